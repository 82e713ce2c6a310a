#include "reduce_exact.hpp"
#include "tandem/errors.hpp"
namespace tandem::detail {
reduce_values run_exact(run_context&, const reduce_input&, std::uint32_t) { throw usage_error("exact: WIP"); }
}
