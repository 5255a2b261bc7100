#pragma once

#include "sessionreader.h"

// Reads a HAR file into records and exchanges, best effort: HTTP entries
// only (as HAR holds nothing else), heads rebuilt from their parsed form,
// bodies from their text (or the encoded bytes proxymon's own HAR kept).
// Entries of one connection ("connection", or proxymon's own fields) share
// a record; proxymon's list of other connections comes back too. What
// HarWriter wrote comes back so that writing it again gives the same HAR.
class HarReader
{
public:
    static SessionReader::Result read(const QByteArray &contents);
};
