// QuantLib's MCEuropeanEngine as a peer of `tandem montecarlo`: PATHS paths of STEPS steps
// (pseudo-random, Mersenne twister with Box-Muller... as MakeMCEuropeanEngine<PseudoRandom> picks),
// pricing an at-the-money European call on a Black-Scholes process whose one-year variance is
// Tandem's sigma^2 STEPS dt (the same spread of final prices, in QuantLib's year units). The work
// per run is the same PATHS x STEPS path-steps; the step is QuantLib's (exact log-normal), not the
// published example's arithmetic one. A run prices once (the engine recalculates, no cache).
//
//   tandem-peer-quantlib-mc --paths P --steps S [--s0 100] [--sigma 0.02] [--dt 1] [--rate 0] [--seed 42]
#include <ql/exercise.hpp>
#include <ql/instruments/europeanoption.hpp>
#include <ql/pricingengines/vanilla/analyticeuropeanengine.hpp>
#include <ql/pricingengines/vanilla/mceuropeanengine.hpp>
#include <ql/processes/blackscholesprocess.hpp>
#include <ql/quotes/simplequote.hpp>
#include <ql/termstructures/volatility/equityfx/blackconstantvol.hpp>
#include <ql/termstructures/yield/flatforward.hpp>
#include <ql/time/calendars/target.hpp>
#include <ql/time/daycounters/actual365fixed.hpp>
#include <ql/version.hpp>

#include <cmath>
#include <sstream>

#include "peer_protocol.hpp"

int main(int argc, char** argv) {
  using namespace QuantLib;
  using tandem_peer::number;
  const auto paths = number<unsigned long>(argc, argv, "--paths");
  const auto steps = number<unsigned long>(argc, argv, "--steps");
  const double s0 = number<double>(argc, argv, "--s0", "100"), sigma = number<double>(argc, argv, "--sigma", "0.02");
  const double dt = number<double>(argc, argv, "--dt", "1"), rate = number<double>(argc, argv, "--rate", "0");
  const auto seed = number<unsigned long>(argc, argv, "--seed", "42");
  if (paths < 1 || steps < 1 || !(s0 > 0) || !(sigma >= 0) || !(dt > 0)) {
    std::cerr << "tandem-peer-quantlib-mc: bad --paths/--steps/--s0/--sigma/--dt\n";
    return 2;
  }
  const double horizon = double(steps) * dt;      // in Tandem's units of time
  const double vol = sigma * std::sqrt(horizon);  // per sqrt(year), over one year
  const double r = rate * horizon;

  const Date today(2, January, 2024);
  Settings::instance().evaluationDate() = today;
  const DayCounter dc = Actual365Fixed();
  auto spot = ext::make_shared<SimpleQuote>(s0);
  Handle<YieldTermStructure> rf(ext::make_shared<FlatForward>(today, r, dc));
  Handle<YieldTermStructure> q(ext::make_shared<FlatForward>(today, 0.0, dc));
  Handle<BlackVolTermStructure> bv(ext::make_shared<BlackConstantVol>(today, TARGET(), vol, dc));
  auto process = ext::make_shared<BlackScholesMertonProcess>(Handle<Quote>(spot), q, rf, bv);
  EuropeanOption option(ext::make_shared<PlainVanillaPayoff>(Option::Call, s0),
                        ext::make_shared<EuropeanExercise>(today + 365));
  option.setPricingEngine(ext::make_shared<AnalyticEuropeanEngine>(process));
  const Real bs = option.NPV();
  option.setPricingEngine(MakeMCEuropeanEngine<PseudoRandom>(process)
                              .withSteps(steps)
                              .withSamples(paths)
                              .withSeed(seed));
  std::ostringstream detail;
  detail << "QuantLib " << QL_VERSION << " MCEuropeanEngine<PseudoRandom>, " << paths << " paths x " << steps
         << " steps, 1 thread, at-the-money call, vol " << vol << " over one year (Black-Scholes " << bs << ")";
  return tandem_peer::serve(detail.str(), [&] {
    option.recalculate();
    volatile Real price = option.NPV();
    (void)price;
  });
}
