// Counts of the operations whose number must follow the size of a change, not of the
// repository: files read to hash or store them, tree objects read from and written to
// the store, stat-cache rows looked up by a diff against the mirror; and fdatasyncs of
// .dv/refs.log, whose number must follow transactions, not refs moved; stat-cache rows
// read from and written to the database (in whole segments: what a command holds of the record);
// the most tree entries a first add held at once (its open directories': first-add.ts); read
// transactions on the MD5 index (a listing page's ETags must take one, whatever its size). Tests reset and read them to check that one changed file among many costs
// O(change) (seconds are too noisy to assert on); nothing else depends on them.
export const ops = { filesHashed: 0, filesStored: 0, treesRead: 0, treesWritten: 0, rowsProbed: 0, refLogSyncs: 0, rowsLoaded: 0, rowsSaved: 0, entriesHeld: 0, md5Reads: 0 };

export function resetOps(): void {
  ops.filesHashed = 0;
  ops.filesStored = 0;
  ops.treesRead = 0;
  ops.treesWritten = 0;
  ops.rowsProbed = 0;
  ops.refLogSyncs = 0;
  ops.rowsLoaded = 0;
  ops.rowsSaved = 0;
  ops.entriesHeld = 0;
  ops.md5Reads = 0;
}
