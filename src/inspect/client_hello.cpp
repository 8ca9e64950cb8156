// SPDX-License-Identifier: MIT
// The TLS ClientHello parser: reads the handshake message through its records without copying
// them, checking each field as it arrives, and keeps only the server name.
#include "ringlb/inspect/client_hello.hpp"

#include <algorithm>

namespace ringlb {

namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHelloType = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kRecordMax = 16384;  // TLSPlaintext.length <= 2^14
constexpr std::uint16_t kServerNameExtension = 0;
constexpr std::uint8_t kHostNameType = 0;

enum class Step { ok, more, bad };

// Reads the handshake message's bytes out of the records that carry it. Each record header
// is checked when the message's next byte lies behind it; `needed` says how many bytes of
// input a `more` waits for.
class HandshakeReader final {
  public:
    explicit HandshakeReader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

    Step byte(std::uint8_t& out) noexcept {
        if (left_in_record_ == 0) {
            if (Step step = next_record(); step != Step::ok) {
                return step;
            }
        }
        if (position_ >= bytes_.size()) {
            needed_ = position_ + 1;
            return Step::more;
        }
        out = bytes_[position_++];
        --left_in_record_;
        return Step::ok;
    }

    // A big-endian integer of `width` bytes.
    Step number(unsigned width, std::size_t& out) noexcept {
        out = 0;
        for (unsigned i = 0; i < width; ++i) {
            std::uint8_t b = 0;
            if (Step step = byte(b); step != Step::ok) {
                return step;
            }
            out = (out << 8) | b;
        }
        return Step::ok;
    }

    // Skips `count` bytes of the message, record headers checked on the way.
    Step skip(std::size_t count) noexcept {
        while (count > 0) {
            if (left_in_record_ == 0) {
                if (Step step = next_record(); step != Step::ok) {
                    return step;
                }
            }
            const std::size_t here = std::min(count, left_in_record_);
            if (position_ + here > bytes_.size()) {
                // Wait for the rest of this record's part at least.
                needed_ = position_ + here;
                return Step::more;
            }
            position_ += here;
            left_in_record_ -= here;
            count -= here;
        }
        return Step::ok;
    }

    [[nodiscard]] std::size_t needed() const noexcept { return needed_; }
    [[nodiscard]] std::size_t position() const noexcept { return position_; }
    [[nodiscard]] std::size_t left_in_record() const noexcept { return left_in_record_; }

  private:
    // Checks the next record header byte by byte as far as it has arrived.
    Step next_record() noexcept {
        const std::size_t start = position_;
        // A record that cannot hold one byte within kClientHelloMax can never finish it.
        if (start + kRecordHeader + 1 > kClientHelloMax) {
            return Step::bad;
        }
        for (std::size_t i = 0; i < kRecordHeader; ++i) {
            if (start + i >= bytes_.size()) {
                needed_ = start + kRecordHeader;
                return Step::more;
            }
            const std::uint8_t b = bytes_[start + i];
            // Type 22; legacy_record_version 3.x with x <= 4 (a ClientHello's first record
            // says 3.0 or 3.1, later ones may say 3.3; no TLS version goes beyond 3.4).
            if ((i == 0 && b != kHandshakeRecord) || (i == 1 && b != 3) || (i == 2 && b > 4) ||
                (i == 3 && b > (kRecordMax >> 8))) {
                return Step::bad;
            }
        }
        const std::size_t length = (std::size_t{bytes_[start + 3]} << 8) | bytes_[start + 4];
        // Zero-length handshake fragments are forbidden (RFC 8446 5.1); the records of one
        // ClientHello must fit in the bytes we are prepared to hold.
        if (length == 0 || length > kRecordMax ||
            start + kRecordHeader + length > kClientHelloMax) {
            return Step::bad;
        }
        position_ = start + kRecordHeader;
        left_in_record_ = length;
        return Step::ok;
    }

    std::span<const std::uint8_t> bytes_;
    std::size_t position_ = 0;
    std::size_t left_in_record_ = 0;
    std::size_t needed_ = 0;
};

// Tracks how much of an enclosing length-prefixed container is left, so that each field is
// refused as soon as it claims more than its container holds.
struct Budget final {
    std::size_t left;
    bool take(std::size_t count) noexcept {
        if (count > left) {
            return false;
        }
        left -= count;
        return true;
    }
};

#define RINGLB_STEP(expression)                             \
    do {                                                    \
        if (Step step_ = (expression); step_ != Step::ok) { \
            return step_;                                   \
        }                                                   \
    } while (false)

// Reads the server_name extension's body of `length` bytes into `hello`.
Step read_server_name(HandshakeReader& reader, std::size_t length, ClientHello& hello) noexcept {
    Budget body{length};
    std::size_t list_length = 0;
    if (!body.take(2)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.number(2, list_length));
    // The list holds exactly the one host_name a client may send (RFC 6066 3): type, length,
    // at least one byte of name.
    if (list_length != body.left || list_length < 4) {
        return Step::bad;
    }
    std::uint8_t type = 0;
    RINGLB_STEP(reader.byte(type));
    if (type != kHostNameType) {
        return Step::bad;
    }
    std::size_t name_length = 0;
    RINGLB_STEP(reader.number(2, name_length));
    if (name_length == 0 || name_length > kServerNameMax || name_length + 3 != list_length) {
        return Step::bad;
    }
    bool label_empty = true;
    for (std::size_t i = 0; i < name_length; ++i) {
        std::uint8_t c = 0;
        RINGLB_STEP(reader.byte(c));
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<std::uint8_t>(c - 'A' + 'a');
        }
        const bool name_char =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (c == '.') {
            // No empty label, and no trailing dot (RFC 6066 3).
            if (label_empty || i + 1 == name_length) {
                return Step::bad;
            }
            label_empty = true;
        } else if (name_char) {
            label_empty = false;
        } else {
            return Step::bad;
        }
        hello.name[i] = static_cast<char>(c);
    }
    hello.name_length = name_length;
    return Step::ok;
}

Step read_client_hello(HandshakeReader& reader, ClientHello& hello, bool& named) noexcept {
    std::uint8_t type = 0;
    RINGLB_STEP(reader.byte(type));
    if (type != kClientHelloType) {
        return Step::bad;
    }
    std::size_t length = 0;
    RINGLB_STEP(reader.number(3, length));
    // version(2) random(32) session id(1+) suites(2+2) compression(1+1) at the least.
    if (length < 2 + 32 + 1 + 4 + 2 || length + 4 + kRecordHeader > kClientHelloMax) {
        return Step::bad;
    }
    Budget message{length};
    std::uint8_t major = 0;
    std::uint8_t minor = 0;
    RINGLB_STEP(reader.byte(major));
    RINGLB_STEP(reader.byte(minor));
    // legacy_version: 3.1 (TLS 1.0) to 3.3 (TLS 1.2, which TLS 1.3 also says).
    if (major != 3 || minor < 1 || minor > 3) {
        return Step::bad;
    }
    message.take(2);
    if (!message.take(32)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.skip(32));  // random

    std::size_t session_id = 0;
    if (!message.take(1)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.number(1, session_id));
    if (session_id > 32 || !message.take(session_id)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.skip(session_id));

    std::size_t suites = 0;
    if (!message.take(2)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.number(2, suites));
    if (suites < 2 || suites % 2 != 0 || !message.take(suites)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.skip(suites));

    std::size_t compressions = 0;
    if (!message.take(1)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.number(1, compressions));
    if (compressions < 1 || !message.take(compressions)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.skip(compressions));

    if (message.left == 0) {
        return Step::ok;  // no extensions at all (TLS 1.0-1.2 allow it)
    }
    std::size_t extensions = 0;
    if (!message.take(2)) {
        return Step::bad;
    }
    RINGLB_STEP(reader.number(2, extensions));
    if (extensions != message.left) {
        return Step::bad;
    }
    Budget list{extensions};
    while (list.left > 0) {
        std::size_t extension_type = 0;
        std::size_t extension_length = 0;
        if (!list.take(4)) {
            return Step::bad;
        }
        RINGLB_STEP(reader.number(2, extension_type));
        RINGLB_STEP(reader.number(2, extension_length));
        if (!list.take(extension_length)) {
            return Step::bad;
        }
        if (extension_type == kServerNameExtension) {
            if (named) {
                return Step::bad;  // an extension type appears at most once (RFC 8446 4.2)
            }
            RINGLB_STEP(read_server_name(reader, extension_length, hello));
            named = true;
        } else {
            RINGLB_STEP(reader.skip(extension_length));
        }
    }
    return Step::ok;
}

#undef RINGLB_STEP

}  // namespace

HelloParse parse_client_hello(std::span<const std::uint8_t> bytes, ClientHello& hello) noexcept {
    if (bytes.empty()) {
        hello.needed = 1;
        return HelloParse::incomplete;
    }
    if (bytes[0] != kHandshakeRecord) {
        return HelloParse::not_tls;
    }
    HandshakeReader reader(bytes);
    bool named = false;
    const Step step = read_client_hello(reader, hello, named);
    if (step == Step::more) {
        hello.needed = std::min(reader.needed(), kClientHelloMax);
        return HelloParse::incomplete;
    }
    // The ClientHello must end its record: the next message (there is none before the
    // server answers) would not belong to it.
    if (step == Step::bad || reader.left_in_record() != 0) {
        return HelloParse::invalid;
    }
    hello.length = reader.position();
    return named ? HelloParse::server_name : HelloParse::no_name;
}

}  // namespace ringlb
