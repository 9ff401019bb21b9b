// jest's node environment, plus what Node's own fetch keeps on the real global object.
//
// jest runs each test file in a V8 context of its own: the file's global object gets the real global's named
// properties (fetch, Headers, timers...) but not its symbol-keyed ones. Node's fetch (undici) keeps its
// connection pool, the global dispatcher, under Symbol.for('undici.globalDispatcher.1') on the real global,
// and @google/genai reads it from `globalThis` to send each request without undici's timeouts: in the test's
// context it found nothing and every Gemini request failed with "Undici globalDispatcher is not available".
// The test's global reads and writes that one property through to the real global, as a program's would.
//
// The same separate context is why a few tests parse fetch's JSON themselves, or copy an array fs made, before a
// deepEqual: node:assert's deepStrictEqual compares prototypes, and a value Node itself made (response.json(),
// readdirSync) has the Object and Array of Node's own context, never equal to a literal written in the test.
import { TestEnvironment } from 'jest-environment-node';

const UNDICI_GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

export default class EtlTestEnvironment extends TestEnvironment {
  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args);
    const real = globalThis as unknown as Record<symbol, unknown>;
    Object.defineProperty(this.global, UNDICI_GLOBAL_DISPATCHER, {
      configurable: true,
      enumerable: false,
      get: () => real[UNDICI_GLOBAL_DISPATCHER],
      set: (dispatcher: unknown) => {
        real[UNDICI_GLOBAL_DISPATCHER] = dispatcher;
      },
    });
  }
}
