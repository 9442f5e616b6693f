package dedup

// WriteAhead is writeAhead, for the tests of package dedup_test.
const WriteAhead = writeAhead
