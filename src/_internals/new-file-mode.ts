/**
 * The modes the kit asks for when it creates a file or a directory that
 * others may read (a dataset, its `.sha256`, `SHA256SUMS`, a reject file,
 * an index, a lock file, the directories `mkdir -p` makes for an output).
 * The umask narrows them as usual, but never widens them to let every user
 * write: under `umask 000` (a cron job or a container entrypoint that sets
 * none) a world-writable dataset, or a directory anyone may swap it in,
 * could be changed between its build and its import.
 *
 * @module
 */

/** Read and write for the owner and the group, read for others: `0666` less the others' write bit. */
export const NEW_FILE_MODE = 0o664;

/** A directory the kit creates for an output file: `0777` less the others' write bit. */
export const NEW_DIRECTORY_MODE = 0o775;
