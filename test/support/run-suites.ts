import { run } from 'node:test';
import { spec } from 'node:test/reporters';

/**
 * `npm test`'s runner (scripts/test.sh). `node --test` sorts the files it is given by name, so the longest suites would
 * start last and the run would end with them alone; this one starts them in the order given, TEST_SLOTS at a time.
 * scripts/test.sh gives it the suites compiled into .local/build; test files inherit this process's flags.
 */
const files = process.argv.slice(2);
const concurrency = Number(process.env.TEST_SLOTS ?? 4);
run({ files, concurrency })
  .on('test:fail', (data) => {
    if (!data.todo) process.exitCode = 1;
  })
  .compose(new spec())
  .pipe(process.stdout);
