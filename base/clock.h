/* clock.h — the one clock for durations: seconds on CLOCK_MONOTONIC (never
 * set back, unlike the time of day), as a double.  Compile and step timings,
 * progress lines and training budgets all read it.
 */
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

double base_now_seconds(void);

#endif /* BASE_CLOCK_H */
