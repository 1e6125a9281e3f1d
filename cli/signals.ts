// Ctrl-C / SIGTERM handling for long-running commands: the first signal starts a
// clean shutdown (flush included), a second one exits at once.

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      console.error(`\n${sig}: stopping and flushing (again to quit at once)`);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
