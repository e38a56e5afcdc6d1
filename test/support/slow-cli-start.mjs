// Preloaded (node --import) into a CLI process by a test: when the entry point starts loading its modules
// (./run-cli.js), says so on stderr and then keeps loading busy for 1.5 s, so that a signal the test sends
// on that line lands while the modules load, before the entry point's command handlers exist.
import { writeSync } from 'node:fs';
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, next) {
    if (/^\.\/run-cli\.[jt]s$/.test(specifier) && /\/src\/cli\/main\.[jt]s$/.test(context.parentURL ?? '')) {
      writeSync(2, 'slow-cli-start: loading\n');
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // busy: the signal arrives meanwhile
      }
    }
    return next(specifier, context);
  },
});
