/*
 * Calendar arithmetic on dates of any year, without the C library's
 * time zone state: the parsers of dates in mail (RFC 5322) and in IMAP
 * SEARCH work in days and seconds since the epoch.
 */

#include "common.h"

/* in eras of 400 years (146097 days), after which the calendar repeats */
int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}
