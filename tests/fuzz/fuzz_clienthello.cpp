// libFuzzer target for the ClientHello reader: whatever the bytes, it
// answers without reading past them, and its answer is the same for the
// hello's own bytes alone; one byte fewer is never a complete hello.

#include "clienthello.h"

#include <cstdint>
#include <cstdlib>

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView bytes(reinterpret_cast<const char *>(data), qsizetype(size));
    ClientHello hello;
    if (ClientHello::parse(bytes, &hello) != ClientHello::Status::Complete)
        return 0;
    check(hello.bytes > 0 && hello.bytes <= bytes.size());
    ClientHello again;
    check(ClientHello::parse(bytes.first(hello.bytes), &again) == ClientHello::Status::Complete);
    check(again.bytes == hello.bytes && again.serverName == hello.serverName && again.alpn == hello.alpn
          && again.maxVersion == hello.maxVersion && again.offersEcdsa == hello.offersEcdsa);
    check(ClientHello::parse(bytes.first(hello.bytes - 1), &again) == ClientHello::Status::NeedMore);
    return 0;
}
