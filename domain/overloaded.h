// Overloaded{lambda...}: one visitor out of several lambdas, for std::visit over the event and
// command variants. Header-only; no state.
#ifndef QUOTEFLOW_DOMAIN_OVERLOADED_H_
#define QUOTEFLOW_DOMAIN_OVERLOADED_H_

namespace quoteflow {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// clang 14 has no class template argument deduction for aggregates (C++20 P1816; clang 17), and the
// fuzz build uses it.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_OVERLOADED_H_
