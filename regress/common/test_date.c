/*
 * date.c: days since the epoch of civil dates, around the epoch, leap
 * days of the years 1900 and 2000, and at the ends of four-digit years.
 */

#include "common.h"
#include "test.h"

static const struct {
	int64_t y;
	int m, d;
	int64_t days;
} dates[] = {
    {1970, 1, 1, 0},
    {1969, 12, 31, -1},
    {2000, 2, 29, 11016},
    {2000, 3, 1, 11017},
    {1900, 3, 1, -25508},
    {2026, 12, 8, 20795},
    {1, 1, 1, -719162},
    {9999, 12, 31, 2932896},
};

int
main(void)
{
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		if (days_from_civil(dates[i].y, dates[i].m, dates[i].d) !=
		    dates[i].days) {
			ok = 0;
			fprintf(stderr, "%lld-%d-%d\n", (long long)dates[i].y,
			    dates[i].m, dates[i].d);
		}
	CHECK("days since the epoch of civil dates", ok);
	CHECK("1900 has no 29 February, 2000 has",
	    days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28) == 1 &&
		days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28) ==
		    2);
	TEST_EXIT();
}
