#pragma once

struct CommandLine;

// `proxymon --ca`: where proxymon's certificate authority is (made on first
// use), its fingerprint, and the commands that make clients trust it; with
// --ca-export, a copy of the certificate; with --ca-replace, a new one.
// Needs a QCoreApplication (for the data directory).
class CaCommand
{
public:
    // Prints to standard output, errors to standard error; the exit status.
    static int run(const CommandLine &commandLine);
};
