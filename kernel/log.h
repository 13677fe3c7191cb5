/* log: one line per decision, to stderr, with UTC time and level.
 * Operators read it; tests grep it. Log once, where the decision is made. */
#ifndef STANZAD_LOG_H
#define STANZAD_LOG_H

void log_set_level(int level); /* LOG_DEBUG .. LOG_ERROR from config.h */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(0, __VA_ARGS__)
#define log_info(...) log_msg(1, __VA_ARGS__)
#define log_warn(...) log_msg(2, __VA_ARGS__)
#define log_error(...) log_msg(3, __VA_ARGS__)

#endif
