// Ends jest's output with one plain line, `jest: N passed, N failed[, N skipped]`, the closing line CI tools read
// in any language (jest's own summary, `Tests: N passed, N total`, is not one of them).
class PlainSummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
module.exports = PlainSummaryReporter;
