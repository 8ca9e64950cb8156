// SPDX-License-Identifier: MIT
// Loads the socket keys a listener and a pool share (TCP options) and a pool's source
// addresses. Private to src/loader/.
#pragma once

#include <vector>

#include <toml++/toml.h>

#include "readers.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/tcp_options.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// keepalive_idle_s, keepalive_interval_s, keepalive_count, tcp_nodelay and mark of `table`.
void load_tcp_options(TomlReader& reader, const toml::table& table, const Scope& scope,
                      TcpOptions& out);

// backlog and tcp_fastopen of a [[listener]].
void load_listen_queue(TomlReader& reader, const toml::table& table, const Scope& scope,
                       ListenerConfig& listener);

// A [[pool]]'s `source`: numeric IP addresses without a port, at most 64, no duplicate. Each
// backend of `backend_tables` whose address is known (numeric, or a host name resolved at load)
// must have a source of its family: a v4 source cannot reach a v6 backend.
void load_sources(TomlReader& reader, const toml::table& table, const Scope& scope,
                  const std::vector<const toml::table*>& backend_tables, PoolConfig& pool);

}  // namespace ringlb::config::loader
