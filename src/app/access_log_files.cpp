// SPDX-License-Identifier: MIT
// The access log files as the main thread runs them: opened as configurations name them, closed
// when none in use does, reopened on SIGUSR1.
#include "access_log_files.hpp"

#include <exception>

#include "ringlb/base/log.hpp"

namespace ringlb {

void AccessLogFiles::open(const config::Config& config) {
    for (const std::string& name : access_log_destinations(config)) {
        if (writer_ && writer_->find_destination(name)) {
            continue;
        }
        if (!writer_) {
            auto writer = std::make_unique<AccessLogWriter>(std::vector<std::string>{});
            std::vector<AccessLogBuffer*> buffers;
            for (unsigned i = 0; i < workers_; ++i) {
                buffers.push_back(&writer->add_buffer());
            }
            writer->start();
            writer_ = std::move(writer);
            buffers_ = std::move(buffers);
            control_.access_log.store(writer_.get(), std::memory_order_release);
        }
        writer_->add_destination(name);
        log_info("access log open destination={}", name);
    }
}

void AccessLogFiles::close_unused(
    const std::vector<std::shared_ptr<Generation>>& retired) noexcept {
    if (!writer_) {
        return;
    }
    try {
        std::vector<std::string> named;
        auto collect = [&](const Generation& generation) {
            for (const auto& listener : generation.listeners) {
                if (listener.access_log >= 0) {
                    named.push_back(listener.config.access_log);
                }
            }
        };
        collect(*control_.generation());
        for (const auto& generation : retired) {
            collect(*generation);
        }
        for (const std::string& name : writer_->keep_only(named)) {
            log_info("access log closed destination={}", name);
        }
    } catch (const std::exception& error) {
        log_warn("access log: cannot work out which files are still in use: {}", error.what());
    }
}

void AccessLogFiles::reopen() noexcept {
    if (writer_) {
        writer_->request_reopen();
    }
    log_info("SIGUSR1: reopening access log files");
}

void AccessLogFiles::stop() noexcept {
    if (writer_) {
        writer_->stop();
    }
}

}  // namespace ringlb
