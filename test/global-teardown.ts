// jest's globalTeardown: stops what test/global-setup.ts started (by PID, newest first) and removes its data folder.
import type { TestStackHandle } from './global-setup';

declare global {
  var etlTestStack: TestStackHandle | undefined;
}

export default async function globalTeardown(): Promise<void> {
  const handle = globalThis.etlTestStack;
  if (!handle) return;
  globalThis.etlTestStack = undefined;
  for (const [signal, handler] of handle.signalHandlers) process.off(signal, handler);
  await handle.stop();
}
