// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr, which abseil 20220623
// lacks. Header-only; no state, so thread-safe.
#ifndef QUOTEFLOW_DOMAIN_STATUS_MACROS_H_
#define QUOTEFLOW_DOMAIN_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QF_CONCAT_INNER_(a, b) a##b
#define QF_CONCAT_(a, b) QF_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status qf_status_ = (expr);      \
    if (!qf_status_.ok()) return qf_status_; \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, F());` declares/assigns x from an OK StatusOr, or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  QF_ASSIGN_OR_RETURN_IMPL_(QF_CONCAT_(qf_statusor_, __LINE__), lhs, expr)
#define QF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // QUOTEFLOW_DOMAIN_STATUS_MACROS_H_
