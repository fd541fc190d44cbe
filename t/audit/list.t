# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# GET /api/audit: admins only, newest first, filtered by actor, action,
# targetType, target and a time range (from, to), in pages of ?limit= with
# nextCursor. Invalid parameters get 400 naming the parameter.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmLists;
use Time::HiRes qw(time sleep);
use URI::Escape qw(uri_escape);

plan tests => 65;

my $admin = admin_token();
my $admin_id = token_claims($admin)->{sub};

sub audit_get {
    my ($query, $token) = @_;
    return api(GET => "audit?$query", token => $token // $admin);
}

# --- access -----------------------------------------------------------------

my $user = new_user(role => 'user');
my $integrator = new_user(role => 'integrator');
my $res = audit_get('limit=1', $user->{token});
ok t_cmp($res->{status}, 403, 'a user cannot read the audit log');
ok t_cmp($res->{json}{message}, 'Access denied', 'user gets Access denied');
$res = audit_get('limit=1', $integrator->{token});
ok t_cmp($res->{status}, 403, 'an integrator cannot read the audit log');
$res = api(GET => 'audit?limit=1');
ok t_cmp($res->{status}, 401, 'no token is 401');
$res = api(POST => 'audit', token => $admin, json => {});
ok t_cmp($res->{status}, 405, 'POST on the audit log is 405');

$res = create_key(undef, $admin, name => 'audit reader', scope => 'read');
my $read_key = $res->{json}{data}{key};
$res = audit_get('limit=1', $read_key);
ok t_cmp($res->{status}, 200, 'a read key of an admin reads the audit log');

# --- a known set of rows --------------------------------------------------

# Five user.create rows by one actor, a key of their own as the actor
# filter, and a spread in time for the time filters.
$res = create_key(undef, $admin, name => 'audit writer');
my $writer = $res->{json}{data}{key};
my $writer_id = $res->{json}{data}{_id};
my @created;
my $t_first = time;
for my $n (1 .. 5) {
    $res = api(POST => 'users', token => $writer,
               json => { firstName => 'Listed', lastName => "N$n",
                         email => unique_email("listed$n"),
                         password => "listed-password-$n" });
    push @created, $res->{json}{data}{_id};
    sleep 0.01;
}
api(PUT => "users/$created[0]", token => $writer,
    json => { lastName => 'Updated' });

$res = audit_get("actor=$writer_id&limit=100");
ok t_cmp($res->{status}, 200, 'actor filter is 200');
ok t_cmp(join(',', sort keys %{ $res->{json} }),
         'count,data,nextCursor,success,total',
         'response has success, count, total, data and nextCursor');
my @rows = @{ $res->{json}{data} };
ok t_cmp(scalar @rows, 6, 'actor filter finds the six rows of the key');
ok t_cmp($res->{json}{count}, 6, 'count is the rows on the page');
ok t_cmp($res->{json}{total}, 6, 'total is the matching rows');
ok t_cmp($res->{json}{nextCursor}, undef, 'one page: nextCursor is null');
ok t_cmp(scalar(grep { $_->{actorId} ne $writer_id } @rows), 0,
         'every row has that actor');
ok t_cmp($rows[0]{action}, 'user.update', 'newest row first');
ok t_cmp(join(',', map { $_->{targetId} } @rows[1 .. 5]),
         join(',', reverse @created), 'creates newest first');

my $descending = 1;
for my $i (1 .. $#rows) {
    $descending = 0 unless $rows[$i]{_id} < $rows[$i - 1]{_id}
                           && $rows[$i]{at} le $rows[$i - 1]{at};
}
ok t_cmp($descending, 1, 'ids and times descend');

# --- filters ----------------------------------------------------------------

$res = audit_get("actor=$writer_id&action=user.create");
ok t_cmp($res->{json}{total}, 5, 'actor and action filter');
ok t_cmp(scalar(grep { $_->{action} ne 'user.create' }
                @{ $res->{json}{data} }), 0, 'action filter keeps the action');

$res = audit_get("target=$created[0]");
ok t_cmp($res->{json}{total}, 2, 'target filter finds create and update');
ok t_cmp(join(',', map { $_->{action} } @{ $res->{json}{data} }),
         'user.update,user.create', 'target rows, newest first');

$res = audit_get("targetType=api_key&target=$writer_id");
ok t_cmp($res->{json}{total}, 1, 'targetType and target filter');
ok t_cmp($res->{json}{data}[0]{action}, 'api_key.create',
         'the key creation row');
$res = audit_get("targetType=integration&target=$writer_id");
ok t_cmp($res->{json}{total}, 0, 'a wrong targetType finds nothing');

$res = audit_get('action=no.such.action');
ok t_cmp($res->{status}, 200, 'an unknown action is no error');
ok t_cmp($res->{json}{total}, 0, 'an unknown action finds nothing');
ok t_cmp($res->{json}{nextCursor}, undef, 'empty result: nextCursor null');

# The time range is inclusive at both ends, to the millisecond.
my @by_time = reverse @{ audit_get("actor=$writer_id")->{json}{data} };
my ($second, $fourth) = ($by_time[1]{at}, $by_time[3]{at});
$res = audit_get("actor=$writer_id&from=" . uri_escape($second)
                 . '&to=' . uri_escape($fourth));
ok t_cmp($res->{status}, 200, 'from and to are 200');
ok t_cmp(join(',', map { $_->{_id} } reverse @{ $res->{json}{data} }),
         join(',', map { $_->{_id} } @by_time[1 .. 3]),
         'from and to keep the rows between them, both included');
$res = audit_get("actor=$writer_id&from=" . uri_escape($fourth));
ok t_cmp($res->{json}{total}, 3, 'from alone keeps the later rows');
$res = audit_get("actor=$writer_id&to=" . uri_escape($second));
ok t_cmp($res->{json}{total}, 2, 'to alone keeps the earlier rows');
$res = audit_get("actor=$writer_id&from=2001-01-01T00:00:00Z"
                 . '&to=2001-01-02T00:00:00Z');
ok t_cmp($res->{json}{total}, 0, 'a range in the past finds nothing');
$res = audit_get("actor=$writer_id&from=" . uri_escape($fourth)
                 . '&to=' . uri_escape($second));
ok t_cmp($res->{json}{total}, 0, 'from after to finds nothing');
my $whole_seconds = iso_time($t_first - 60);
$whole_seconds =~ s/\.\d{3}Z$/Z/;
$res = audit_get("actor=$writer_id&from=$whole_seconds");
ok t_cmp($res->{json}{total}, 6, 'from without milliseconds is accepted');

# --- pages --------------------------------------------------------------

my ($items, $pages) = all_pages(undef, $admin, 'audit',
                                actor => $writer_id, limit => 2);
ok t_cmp(join(',', map { $_->{count} } @$pages), '2,2,2,0',
         'limit 2: pages of 2, 2, 2 and a last empty one');
ok t_cmp(join(',', map { $_->{total} } @$pages), '6,6,6,6',
         'every page has the same total');
ok t_cmp(join(',', map { $_->{_id} } @$items),
         join(',', map { $_->{_id} } @rows), 'pages give every row once');
ok t_cmp($pages->[0]{nextCursor}, $items->[1]{_id},
         'nextCursor is the id of the page last row');

($items, $pages) = all_pages(undef, $admin, 'audit',
                             actor => $writer_id, limit => 4);
ok t_cmp(join(',', map { $_->{count} } @$pages), '4,2',
         'limit 4: pages of 4 and 2');
ok t_cmp($pages->[-1]{nextCursor}, undef, 'last page: nextCursor null');

# --- invalid parameters ---------------------------------------------------

for my $case (
        [ 'limit=0', 'limit' ], [ 'limit=-1', 'limit' ],
        [ 'limit=abc', 'limit' ], [ 'limit=', 'limit' ],
        [ 'limit=1001', 'limit' ], [ 'limit=2.5', 'limit' ],
        [ 'cursor=abc', 'cursor' ], [ 'cursor=0', 'cursor' ],
        [ 'from=yesterday', 'from' ], [ 'to=2024-13-01T00:00:00Z', 'to' ],
        [ 'from=2024-01-01', 'from' ],
        [ 'to=2024-01-01T00:00:00%2B01:00', 'to' ]) {
    my ($query, $name) = @$case;
    $res = audit_get($query);
    ok t_cmp($res->{status}, 400, "$query is 400");
    ok t_cmp($res->{json}{message}, qr/^\Q$name\E\b/, "$query names $name");
}

$res = audit_get('limit=1000');
ok t_cmp($res->{status}, 200, 'limit 1000, the default maximum, is 200');

ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
