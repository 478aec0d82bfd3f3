#!/bin/sh
# `make run`: boxd in the foreground on loopback high ports, with a demo
# domain and user, state under ./demo.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
demo="$top/demo"
mkdir -p "$demo"
sed "s|@STORAGE@|$demo|g" "$top/etc/boxd-dev.conf" > "$demo/boxd.conf"
boxctl="$top/ctl/boxctl -s $demo/control.sock"

"$top/boxd/boxd" -d -f "$demo/boxd.conf" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM EXIT
i=0
until $boxctl status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
		echo "boxd did not start" >&2
		exit 1
	fi
	sleep 0.1
done
$boxctl domain list | grep -qx demo.test || $boxctl domain add demo.test
if ! $boxctl user list demo.test | grep -q '^alice@demo.test'; then
	echo "demo password" | $boxctl user add alice@demo.test \
	    --password-stdin
fi

cat <<MSG

boxd is running in the foreground (Ctrl-C stops it); state in $demo.
Demo domain demo.test, user alice@demo.test.

Send a message:
  swaks --server 127.0.0.1:2525 --from bob@example.test --to alice@demo.test
or
  /usr/bin/python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", 2525).sendmail("bob@example.test", ["alice@demo.test"], "Subject: hi\r\n\r\nhello\r\n")'

Read it:
  ls $demo/mail/demo.test/alice/new/ && cat $demo/mail/demo.test/alice/new/*

Manage it:
  $boxctl status
  $boxctl user list

MSG
wait $pid
