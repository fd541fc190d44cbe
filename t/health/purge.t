# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The runner's hourly clean-up also drops login failure counts whose
# window ended long ago, and keeps current ones.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use Time::HiRes ();

plan tests => 2;

my $server = ItsmServer->start(directives => ['ITSMHealthCheckInterval 1']);
my $now = int(Time::HiRes::time() * 1000);
$server->sql("INSERT INTO auth_failures (subject, failures, window_start) "
             . "VALUES ('login:old\@example.com', 3, 1000)");
$server->sql("INSERT INTO auth_failures (subject, failures, window_start) "
             . "VALUES ('login:new\@example.com', 3, $now)");
# A restarted runner cleans up at its first run.
$server->graceful;
my %left;
for (1 .. 20) {
    %left = map { $_ => 1 } $server->sql('SELECT subject FROM auth_failures');
    last unless $left{'login:old@example.com'};
    select undef, undef, undef, 0.5;
}
ok t_cmp($left{'login:old@example.com'} ? 1 : 0, 0, 'old count is purged');
ok t_cmp($left{'login:new@example.com'} ? 1 : 0, 1, 'current count is kept');
