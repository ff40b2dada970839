#pragma once
// The composition root: reads the configuration, wires the components together, serves
// until SIGTERM/SIGINT and shuts down in order. main() only calls run().
namespace mi::app {

// Exit codes: 0 normal (also after SIGTERM/SIGINT), 1 could not run or stop in time,
// 2 invalid command line or configuration.
int run(int argc, char** argv);

}  // namespace mi::app
