// The commit handshake that ends a migration, on the same connection as the
// stream, after the libxl END:
//
//   destination -> source   "READY\n"        stream valid, state loaded (not running)
//                           "ERROR <why>\n"  refused; the source resumes
//   source -> destination   "GO\n"           the point of no return: the source
//                                            stays stopped, the destination resumes
//
// If the connection breaks before GO is sent, the source resumes; if the
// destination does not receive GO, it discards its domain. (A GO lost after
// it was sent leaves neither side running: the one case a two-party commit
// cannot decide; the source reports it.)
#pragma once

#include <chrono>
#include <string_view>

#include "core/error.hpp"

namespace tern::migrate {

// Source side: waits for READY (or ERROR), then sends GO.
Expected<void> source_commit(int fd, std::chrono::milliseconds timeout);
// Destination side: sends READY, waits for GO.
Expected<void> destination_commit(int fd, std::chrono::milliseconds timeout);
// Destination side: tells the source why the stream was refused (best effort).
void destination_refuse(int fd, std::string_view why);

}  // namespace tern::migrate
