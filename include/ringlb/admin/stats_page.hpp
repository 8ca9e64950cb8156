// SPDX-License-Identifier: MIT
// The admin stats page (src/admin/stats_page.html), embedded at build time by
// src/admin/embed_page.py, and the Content-Security-Policy that allows its inline blocks.
#pragma once

#include <string_view>

namespace ringlb {

// The whole HTML page, UTF-8: inline CSS and JavaScript, nothing fetched from elsewhere.
extern const std::string_view kStatsPage;
// default-src 'none', the page's <script> and <style> allowed by their SHA-256 hashes,
// connect-src 'self' (its fetches of /status and the backend actions).
extern const std::string_view kStatsPageCsp;

}  // namespace ringlb
