#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

// How different HTTP/1.1 servers split one connection's bytes into
// requests, written for the tests and independent of proxymon's parsers:
// a strict RFC 9112 reader and lenient ones that end lines at LF alone or
// at a bare CR, read chunk lines only to CRLF, or let Content-Length win
// over Transfer-Encoding. Request smuggling is two of these disagreeing on
// bytes a proxy sent; a proxy is safe when they never do.
namespace ReferenceReaders {

struct Rules
{
    enum class LineEnd {
        Crlf,   // CRLF only; a bare CR or LF is an error (strict) or data (lenient)
        Lf,     // LF, with one CR before it dropped
        CrOrLf, // CRLF, LF or a bare CR
    };
    const char *name = "";
    LineEnd headLines = LineEnd::Crlf;
    LineEnd chunkLines = LineEnd::Crlf;
    bool strict = false;            // anything RFC 9112 does not allow is an error
    bool contentLengthWins = false; // with both, Content-Length frames the body
};

struct Request
{
    QByteArray method;
    QByteArray target;
    qsizetype begin = 0;
    qsizetype end = 0;       // past its body; for the partial one, where the head ended (0: head incomplete)
    bool closes = false;     // Connection: close
};

struct Reading
{
    enum class Outcome { Complete, Partial, Error };
    QList<Request> requests; // complete ones
    Outcome outcome = Outcome::Complete;
    Request partial;         // Partial: the request under way (head parsed when end > 0)
    qsizetype stop = 0;      // Partial or Error: where it stopped
    QString error;

    // Boundaries and the outcome, for comparing readers.
    QString summary() const;
};

Reading read(QByteArrayView bytes, const Rules &rules);
const QList<Rules> &all();
// Empty when every reader reads the bytes the same way; otherwise what
// each made of them.
QString disagreement(QByteArrayView bytes);

} // namespace ReferenceReaders
