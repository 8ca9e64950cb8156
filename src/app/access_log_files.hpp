// SPDX-License-Identifier: MIT
// The access log files as the main thread runs them: opened as configurations name them, closed
// when none in use does, reopened on SIGUSR1.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ringlb/access/access_log.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/runtime/control.hpp"
#include "ringlb/runtime/generation.hpp"

namespace ringlb {

// The access log writer (made at the first file a configuration names, at start-up or a
// reload) with a buffer per shard. Main thread only.
class AccessLogFiles final {
  public:
    // The writer, once made, is published in `control` for the admin API.
    AccessLogFiles(unsigned workers, Control& control) noexcept
        : workers_(workers), control_(control) {}

    // Opens the access log destinations `config` names that are not open yet, making the
    // writer (and a buffer per shard) at the first one; throws when a file cannot be opened.
    void open(const config::Config& config);
    // Closes the access log files that neither the generation in force nor one of `retired`
    // names any more.
    void close_unused(const std::vector<std::shared_ptr<Generation>>& retired) noexcept;
    // SIGUSR1: asks the writer to reopen every file (after logrotate renamed them).
    void reopen() noexcept;
    // Writes out what the shards left and ends the writer. Call after the shards stopped.
    void stop() noexcept;

    // The writer's destinations by index, for a new generation ("" where none is open).
    [[nodiscard]] std::vector<std::string> destinations() const {
        return writer_ ? writer_->destinations() : std::vector<std::string>{};
    }
    // The shards' buffers by shard; empty while there is no writer.
    [[nodiscard]] const std::vector<AccessLogBuffer*>& buffers() const noexcept { return buffers_; }

  private:
    unsigned workers_;
    Control& control_;
    std::unique_ptr<AccessLogWriter> writer_;
    std::vector<AccessLogBuffer*> buffers_;  // by shard, once the writer exists
};

}  // namespace ringlb
