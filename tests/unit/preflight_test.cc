#include "preflight.h"

#include <gtest/gtest.h>

namespace ringwire::load {
namespace {

// A range of 100 ephemeral ports and a descriptor limit far above the runs below.
SystemLimits hundred_ports() {
  return {.open_files = 1'000'000, .port_low = 40000, .port_high = 40099};
}

LoadOptions with_connections(std::size_t connections, std::size_t threads = 1) {
  LoadOptions options;
  options.connections = connections;
  options.threads = threads;
  return options;
}

TEST(Preflight, RunThatFitsBothLimitsStarts) {
  EXPECT_EQ(preflight_problem(with_connections(100), hundred_ports()), "");
}

TEST(Preflight, MoreConnectionsThanOneSourcesPortsFailsWithOneLineNamingTheFix) {
  const std::string line = preflight_problem(with_connections(101), hundred_ports());
  EXPECT_NE(line.find("101 connections exceed the 100 ephemeral ports of 1 source address "),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("40000-40099"), std::string::npos) << line;
  EXPECT_NE(line.find("--source"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST(Preflight, EachSourceAddressAddsItsPorts) {
  LoadOptions options = with_connections(300);
  options.sources = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
  EXPECT_EQ(preflight_problem(options, hundred_ports()), "");
  options.connections = 301;
  const std::string line = preflight_problem(options, hundred_ports());
  EXPECT_NE(line.find("301 connections exceed the 300 ephemeral ports of 3 source addresses"),
            std::string::npos)
      << line;
}

TEST(Preflight, DescriptorLimitIsCheckedFirstAndSaysHowManyConnectionsFit) {
  const std::size_t threads = 2;
  SystemLimits limits = hundred_ports();
  limits.open_files = descriptors_needed(with_connections(50, threads));
  EXPECT_EQ(preflight_problem(with_connections(50, threads), limits), "");
  // Past both the descriptors and the ports: the descriptors are named, since they bind first.
  const std::string line = preflight_problem(with_connections(101, threads), limits);
  EXPECT_NE(line.find("open-file limit (ulimit -n) is " + std::to_string(limits.open_files)),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("use at most 50 connections per process"), std::string::npos) << line;
  EXPECT_EQ(max_connections_for(limits.open_files, threads), 50u);
}

}  // namespace
}  // namespace ringwire::load
