/*
 * smtp_parse_command() on arbitrary octets.  The line is copied to a
 * buffer of exactly its size, so a read past len is an ASan report.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_command(const struct smtp_command *cmd)
{
	char	 buf[SMTP_PATH_MAX];

	/* every string the session will use is NUL-terminated */
	if (memchr(cmd->arg, '\0', sizeof(cmd->arg)) == NULL ||
	    memchr(cmd->auth_initial, '\0', sizeof(cmd->auth_initial)) ==
	    NULL || memchr(cmd->envid, '\0', sizeof(cmd->envid)) == NULL ||
	    memchr(cmd->auth_param, '\0', sizeof(cmd->auth_param)) == NULL ||
	    memchr(cmd->orcpt, '\0', sizeof(cmd->orcpt)) == NULL)
		abort();
	if (cmd->verb != SMTP_CMD_MAIL && cmd->verb != SMTP_CMD_RCPT)
		return;
	if (cmd->null_path)
		return;
	/* a parsed path always fits an envelope's address field */
	if (mailaddr_format(&cmd->addr, buf, sizeof(buf)) == -1)
		abort();
	if (cmd->addr.domain[0] == '\0' &&
	    strcmp(cmd->addr.local, "postmaster") != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command	 cmd;
	char			 err[128], small[5];
	char			*line;
	int			 rv;

	if ((line = malloc(size == 0 ? 1 : size)) == NULL)
		return 0;
	if (size > 0)
		memcpy(line, data, size);
	rv = smtp_parse_command(line, size, &cmd, err, sizeof(err));
	if (rv == 0)
		check_command(&cmd);
	else if (rv < 500 || rv > 555 || memchr(err, '\0', sizeof(err)) ==
	    NULL || strlen(err) < 6 || err[0] != '5' || err[1] != '.')
		abort();
	/* a short error buffer changes nothing but the text */
	if (smtp_parse_command(line, size, &cmd, small, sizeof(small)) != rv)
		abort();
	free(line);
	return 0;
}
