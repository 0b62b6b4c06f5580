#pragma once
// Base64 (RFC 4648, standard alphabet, '=' padding): how histograms travel in JSON results and in
// HdrHistogram's interval logs.

#include <optional>
#include <string>
#include <string_view>

namespace ringwire {

std::string encode_base64(std::string_view bytes);
// nullopt for a character outside the alphabet; decoding stops at the first '='.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace ringwire
