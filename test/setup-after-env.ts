// Runs in every test file (jest's setupFilesAfterEnv): at the file's end, stop the file's Temporal native runtime.
//
// The SDK keeps one Core runtime (Rust threads) per process in the static Runtime._instance, and shuts it down by
// itself only when the last worker or native connection registered on it goes away. Under jest each test file has
// a module registry of its own, so each file gets a fresh @temporalio/worker, a fresh Runtime class and, once
// test/helpers/env.ts calls Runtime.install (lib/logging), a fresh native runtime. A file that installs it and
// never starts a worker (a unit test importing a helper, a client-only test) would leave its runtime running in
// jest's process for the rest of the run: measured, two more threads per such file, nothing ever stopping them.
// Under node --test each file was a process and the runtime went with it; here it is shut down explicitly.
// No runtime is shared between files on purpose: each file installs its own (its own logger) and ends with none.
// Runtime.instance() is not used: it would create a runtime where the file never made one.
import { afterAll } from '@jest/globals';
import { Runtime } from '@temporalio/worker';

afterAll(async () => {
  await Runtime._instance?.shutdown();
});
