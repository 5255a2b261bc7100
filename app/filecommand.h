#pragma once

struct CommandLine;

// `proxymon --headless FILE`: a saved session, a JSONL stream or a HAR file
// written out again without a window or a proxy: as HAR (--har), as JSON
// Lines (--jsonl, a session with --bodies), or as one curl command per
// exchange on standard output (--curl); --filter picks what goes.
class FileCommand
{
public:
    // Errors and a summary go to standard error; the exit status.
    static int run(const CommandLine &commandLine);
};
