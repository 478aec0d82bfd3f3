/*
 * THREAD: REFERENCES and ORDEREDSUBJECT on fake mailboxes with the
 * expected output written by hand, and hostile headers: loops, duplicate
 * message-ids, 10,000 references in one header, deep chains.
 */

#include <event2/buffer.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "search_fake.h"

/* the THREAD output of msgs[0..n-1], seq i + 1, uid 10 * (i + 1) */
static const char *
thread(enum thread_algorithm alg, struct fake_msg *msgs, size_t n, int uid)
{
	static char *out;
	struct evbuffer *buf;
	void **ptrs;
	size_t i, len;

	free(out);
	out = NULL;
	if ((buf = evbuffer_new()) == NULL ||
	    (ptrs = calloc(n + 1, sizeof(*ptrs))) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		msgs[i].seq = i + 1;
		msgs[i].uid = 10 * (i + 1);
		ptrs[i] = &msgs[i];
	}
	if (thread_run(alg, &fake_ops, ptrs, n, uid, buf) == -1) {
		evbuffer_free(buf);
		free(ptrs);
		return "ERROR";
	}
	len = evbuffer_get_length(buf);
	if ((out = malloc(len + 1)) == NULL)
		abort();
	evbuffer_remove(buf, out, len);
	out[len] = '\0';
	evbuffer_free(buf);
	free(ptrs);
	return out;
}

static int
thread_is(enum thread_algorithm alg, struct fake_msg *msgs, size_t n,
    int uid, const char *want)
{
	const char *got = thread(alg, msgs, n, uid);

	if (strcmp(got, want) == 0)
		return 1;
	printf("# got %.200s\n# want %s\n", got, want);
	return 0;
}

#define M(date, hdrs) \
	{ .has_sdate = 1, .sdate = (date), .headers = (hdrs) }

static void
test_references(void)
{
	struct fake_msg msgs[] = {
		M(100, "Message-ID: <1@x>\nSubject: Hello\n"),
		M(200, "Message-ID: <2@x>\nIn-Reply-To: <1@x>\n"
		       "Subject: Re: Hello\n"),
		M(300, "Message-ID: <3@x>\nReferences: <1@x> <2@x>\n"
		       "Subject: Re: Hello\n"),
		M(250, "Message-ID: <4@x>\nReferences: <1@x>\n"
		       "Subject: Re: Hello\n"),
		M(50, "Message-ID: <5@x>\nSubject: Other\n"),
		M(400, "Message-ID: <6@x>\nReferences: <missing@x>\n"
		       "Subject: Re: Other\n"),
		M(500, "Message-ID: <7@x>\nReferences: <gone@x>\n"
		       "Subject: New topic\n"),
		M(450, "Message-ID: <8@x>\nReferences: <gone@x>\n"
		       "Subject: Re: New topic\n"),
	};

	CHECK("references", thread_is(THREAD_REFERENCES, msgs, 8, 0,
				"(5 6)(1 (2 3)(4))((8)(7))"));
	CHECK("references uid", thread_is(THREAD_REFERENCES, msgs, 8, 1,
				    "(50 60)(10 (20 30)(40))((80)(70))"));
	CHECK("references one", thread_is(THREAD_REFERENCES, msgs, 1, 0,
				    "(1)"));
	CHECK("references none", thread_is(THREAD_REFERENCES, msgs, 0, 0, ""));
}

static void
test_ids(void)
{
	struct fake_msg dup[] = {
		M(10, "Subject: a\n"),
		M(20, "Message-ID: <d@x>\nSubject: b\n"),
		M(30, "Message-ID: <d@x>\nSubject: c\n"),
		M(40, "Message-ID: <4@x>\nIn-Reply-To: <d@x>\nSubject: Re: b\n"),
		M(50, "Message-ID: not an id\nSubject: e\n"),
		M(60, "Message-ID: <>\nSubject: f\n"),
		M(70, "Message-ID: <7@x>\nIn-Reply-To: junk <a b> <4@x> <2@x>\n"
		      "Subject: g\n"),
		M(80, "Message-ID: <8@x>\nReferences: <<bad> <7@x>>\n"
		      "Subject: h\n"),
	};
	struct fake_msg loop[] = {
		M(1, "Message-ID: <a@x>\nReferences: <b@x>\nSubject: x1\n"),
		M(2, "Message-ID: <b@x>\nReferences: <a@x>\nSubject: x2\n"),
		M(3, "Message-ID: <s@x>\nReferences: <s@x>\nSubject: x3\n"),
		M(4, "Message-ID: <c@x>\nReferences: <p@x> <q@x> <p@x> <c@x>\n"
		     "Subject: x4\n"),
	};

	CHECK("duplicates", thread_is(THREAD_REFERENCES, dup, 8, 0,
				"(1)(2 4 7 8)(3)(5)(6)"));
	CHECK("loops", thread_is(THREAD_REFERENCES, loop, 4, 0,
			   "(2 1)(3)(4)"));
}

static void
test_subject_merge(void)
{
	struct fake_msg msgs[] = {
		M(10, "Message-ID: <p1>\nReferences: <zz1>\nSubject: topic\n"),
		M(20, "Message-ID: <p2>\nSubject: Re: topic\n"),
		M(30, "Message-ID: <p3>\nSubject: topic\n"),
		M(100, "Message-ID: <p4>\nReferences: <f1>\nSubject: fish\n"),
		M(110, "Message-ID: <p5>\nReferences: <f1>\nSubject: Re: fish\n"),
		M(120, "Message-ID: <p6>\nReferences: <f2>\nSubject: fish\n"),
		M(130, "Message-ID: <p7>\nReferences: <f2>\nSubject: Re: fish\n"),
		M(200, "Message-ID: <p8>\nSubject: bird\n"),
		M(210, "Message-ID: <p9>\nReferences: <b1>\nSubject: Re: bird\n"),
		M(220, "Message-ID: <p10>\nReferences: <b1>\nSubject: bird\n"),
		M(300, "Message-ID: <p11>\nSubject: \n"),
		M(310, "Message-ID: <p12>\nSubject: Re:\n"),
	};

	CHECK("subject merge", thread_is(THREAD_REFERENCES, msgs, 12, 0,
				   "((1 2)(3))((4)(5)(6)(7))((8)(9)(10))(11)"
				   "(12)"));
}

/* children sort by date, ties by sequence number; dummies by first child */
static void
test_dates(void)
{
	struct fake_msg msgs[] = {
		M(100, "Message-ID: <r>\nSubject: root\n"),
		M(300, "Message-ID: <c1>\nReferences: <r>\nSubject: Re: root\n"),
		M(200, "Message-ID: <c2>\nReferences: <r>\nSubject: Re: root\n"),
		M(200, "Message-ID: <c3>\nReferences: <r>\nSubject: Re: root\n"),
		{ .idate = 150, .headers = "Message-ID: <c4>\nReferences: <r>\n"
					   "Subject: Re: root\n" },
		M(50, "Message-ID: <d1>\nReferences: <dummy>\nSubject: u\n"),
		M(10, "Message-ID: <d2>\nReferences: <dummy>\nSubject: v\n"),
	};

	CHECK("dates", thread_is(THREAD_REFERENCES, msgs, 7, 0,
			   "((7)(6))(1 (5)(3)(4)(2))"));
}

static void
test_orderedsubject(void)
{
	struct fake_msg msgs[] = {
		M(30, "Subject: b\n"),
		M(20, "Subject: Re: a\n"),
		M(10, "Subject: a\n"),
		M(5, "Subject: B\n"),
		M(40, "Subject: c\n"),
		M(15, "Subject: Re: a\n"),
		M(60, "X-No: subject\n"),
		M(50, "Subject: [x] Re:\n"),
	};

	CHECK("orderedsubject", thread_is(THREAD_ORDEREDSUBJECT, msgs, 8, 0,
				    "(4 1)(3 (6)(2))(5)(8 7)"));
	CHECK("orderedsubject uid", thread_is(THREAD_ORDEREDSUBJECT, msgs, 2,
					1, "(20)(10)"));
}

static void
test_parse(void)
{
	struct imap_command cmd;
	enum thread_algorithm alg = THREAD_ORDEREDSUBJECT;

	memset(&cmd, 0, sizeof(cmd));
	CHECK("alg parse", fake_parse_args(&cmd,
			       "references ORDEREDSUBJECT REFS \"REFERENCES\"") ==
		0);
	CHECK("alg references", thread_parse_algorithm(&cmd.args[0], &alg) ==
		0 && alg == THREAD_REFERENCES);
	CHECK("alg orderedsubject", thread_parse_algorithm(&cmd.args[1],
					&alg) == 0 &&
		alg == THREAD_ORDEREDSUBJECT);
	CHECK("alg unknown", thread_parse_algorithm(&cmd.args[2], &alg) == -1);
	CHECK("alg string", thread_parse_algorithm(&cmd.args[3], &alg) == -1);
	imap_command_free(&cmd);
}

static void
test_hostile(void)
{
	enum { NREFS = 10000, DEEP = 20000 };
	struct fake_msg *msgs;
	char *refs, *p, *want, *q;
	char **hdrs;
	size_t i;
	int rv;

	/* 10,000 references, then the same ones backwards and repeated */
	if ((msgs = calloc(DEEP, sizeof(*msgs))) == NULL ||
	    (hdrs = calloc(DEEP, sizeof(*hdrs))) == NULL ||
	    (refs = malloc(NREFS * 40 + 200)) == NULL)
		abort();
	p = refs + sprintf(refs, "Message-ID: <first>\nReferences:");
	for (i = 0; i < NREFS; i++)
		p += sprintf(p, " <r%zu@x>", i);
	sprintf(p, "\nSubject: many\n");
	msgs[0].headers = refs;
	if ((hdrs[0] = malloc(NREFS * 60 + 200)) == NULL)
		abort();
	p = hdrs[0] + sprintf(hdrs[0], "Message-ID: <r0@x>\nReferences:");
	for (i = NREFS; i > 0; i--)
		p += sprintf(p, " <r%zu@x> <r0@x>", i - 1);
	sprintf(p, "\nSubject: back\n");
	msgs[1].headers = hdrs[0];
	/* the last 256 count: r0 is far from the first message's */
	CHECK("many references", thread_is(THREAD_REFERENCES, msgs, 2, 0,
				     "(1)(2)"));
	free(hdrs[0]);
	free(refs);

	/* a chain 20,000 deep: no recursion */
	for (i = 0; i < DEEP; i++) {
		if (asprintf(&hdrs[i],
			"Message-ID: <m%zu>\nIn-Reply-To: <m%zu>\n"
			"Subject: Re: deep\n",
			i, i == 0 ? (size_t)DEEP * 2 : i - 1) == -1)
			abort();
		msgs[i].headers = hdrs[i];
		msgs[i].has_sdate = 1;
		msgs[i].sdate = i;
	}
	if ((want = malloc(DEEP * 10 + 4)) == NULL)
		abort();
	q = want + sprintf(want, "(");
	for (i = 0; i < DEEP; i++)
		q += sprintf(q, "%s%zu", i ? " " : "", i + 1);
	sprintf(q, ")");
	CHECK("deep chain", thread_is(THREAD_REFERENCES, msgs, DEEP, 0, want));
	/* the same chain with every child before its parent */
	for (i = 0; i < DEEP; i++) {
		free(hdrs[i]);
		if (asprintf(&hdrs[i],
			"Message-ID: <m%zu>\nIn-Reply-To: <m%zu>\n"
			"Subject: Re: deep\n",
			i, i + 1) == -1)
			abort();
		msgs[i].headers = hdrs[i];
		msgs[i].sdate = DEEP - i;
	}
	q = want + sprintf(want, "(");
	for (i = DEEP; i > 0; i--)
		q += sprintf(q, "%s%zu", i < DEEP ? " " : "", i);
	sprintf(q, ")");
	CHECK("deep chain backwards",
	    thread_is(THREAD_REFERENCES, msgs, DEEP, 0, want));
	/* everything a loop back to the first */
	for (i = 0; i < DEEP; i++) {
		free(hdrs[i]);
		if (asprintf(&hdrs[i],
			"Message-ID: <m%zu>\nReferences: <m%zu> <m0>\n"
			"Subject: x\n",
			i, (i + 1) % DEEP) == -1)
			abort();
		msgs[i].headers = hdrs[i];
	}
	CHECK("loops everywhere",
	    strncmp(thread(THREAD_REFERENCES, msgs, DEEP, 0), "(", 1) == 0);
	/*
	 * a chain of half the messages, then each of the others closing a
	 * loop from near its bottom to its top: every loop check would walk
	 * the whole chain
	 */
	for (i = 0; i < DEEP; i++) {
		free(hdrs[i]);
		if (i < DEEP / 2)
			rv = asprintf(&hdrs[i],
			    "Message-ID: <m%zu>\nIn-Reply-To: <m%zu>\n"
			    "Subject: chain\n",
			    i, i == 0 ? (size_t)DEEP : i - 1);
		else
			rv = asprintf(&hdrs[i],
			    "Message-ID: <q%zu>\nReferences: <m%zu> <m0>\n"
			    "Subject: q%zu\n",
			    i, DEEP / 2 - 1 - i % 100, i);
		if (rv == -1)
			abort();
		msgs[i].headers = hdrs[i];
		msgs[i].has_sdate = 0;
	}
	q = want + sprintf(want, "(1 (2");
	for (i = 2; i < DEEP / 2; i++)
		q += sprintf(q, " %zu", i + 1);
	q += sprintf(q, ")");
	for (i = DEEP / 2; i < DEEP; i++)
		q += sprintf(q, "(%zu)", i + 1);
	sprintf(q, ")");
	CHECK("loops at the bottom",
	    thread_is(THREAD_REFERENCES, msgs, DEEP, 0, want));
	/* one message-id for all */
	for (i = 0; i < DEEP; i++) {
		free(hdrs[i]);
		if (asprintf(&hdrs[i], "Message-ID: <same>\nSubject: s%zu\n",
			i) == -1)
			abort();
		msgs[i].headers = hdrs[i];
	}
	CHECK("one id", strncmp(thread(THREAD_REFERENCES, msgs, 3, 0),
			    "(1)(2)(3)", 9) == 0);
	for (i = 0; i < DEEP; i++)
		free(hdrs[i]);
	free(hdrs);
	free(want);
	free(msgs);
}

int
main(void)
{
	test_references();
	test_ids();
	test_subject_merge();
	test_dates();
	test_orderedsubject();
	test_parse();
	test_hostile();
	TEST_EXIT();
}
