// The fuzz entry points: one per decoder of outside input. Each takes arbitrary bytes, drives the
// production code with them and checks its properties with FUZZ_CHECK (abort on violation); none
// keeps state between calls beyond what it resets itself. The same functions back the libFuzzer
// binaries (libfuzzer_main.cc, clang only) and the g++ corpus replay test (corpus_replay_test.cc),
// so every checked-in corpus file and crash reproducer runs in the plain build too.
//
//   request_validation  QuoteCommands over the in-memory fakes: a program of CreateQuote /
//                       ApproveQuote / GetQuote calls decoded from the bytes.
//   grpc_requests       The quoteflow.v1 request protos (quote, customer, policy) parsed from the
//                       bytes and served by the real gRPC adapters over the in-memory fakes.
//   event_envelope      DecodeEnvelope on the bytes; for every envelope it accepts,
//                       DecodeEnvelope(EncodeEnvelope(x)) == x.
//   command_envelope    DecodeCommandEnvelope (saga commands from the command topics) on the bytes;
//                       for every command it accepts, decode(encode(x)) == x and the encoding is
//                       not taken for an event.
//   config_parse        Config::Parse with an argv and environment decoded from the bytes, the
//                       typed getters, Describe() and KafkaSettings built from the result; nothing
//                       they print depends on the value of a secret (the configuration printed
//                       with its secrets and with canaries instead is the same).
//   kafka_properties    ParseKafkaProperties and ParseKafkaPropertiesFile on the bytes.
//   redact_secrets      RedactSecrets on text holding a URL password or a password=value pair
//                       built from the bytes: the password never survives.
// Thread-compatible (the entry points are called from one thread).
#ifndef QUOTEFLOW_TESTS_FUZZ_FUZZ_TARGETS_H_
#define QUOTEFLOW_TESTS_FUZZ_FUZZ_TARGETS_H_

#include "absl/strings/string_view.h"

namespace quoteflow::fuzz {

void FuzzRequestValidation(absl::string_view data);
void FuzzGrpcRequests(absl::string_view data);
void FuzzEventEnvelope(absl::string_view data);
void FuzzCommandEnvelope(absl::string_view data);
void FuzzConfigParse(absl::string_view data);
void FuzzKafkaProperties(absl::string_view data);
void FuzzRedactSecrets(absl::string_view data);

struct FuzzTarget {
  const char* name;  // also the corpus directory: tests/fuzz/corpus/<name>/
  void (*run)(absl::string_view data);
};

inline constexpr FuzzTarget kFuzzTargets[] = {
    {"request_validation", &FuzzRequestValidation}, {"grpc_requests", &FuzzGrpcRequests},
    {"event_envelope", &FuzzEventEnvelope},         {"config_parse", &FuzzConfigParse},
    {"kafka_properties", &FuzzKafkaProperties},     {"redact_secrets", &FuzzRedactSecrets},
    {"command_envelope", &FuzzCommandEnvelope},
};

}  // namespace quoteflow::fuzz

#endif  // QUOTEFLOW_TESTS_FUZZ_FUZZ_TARGETS_H_
