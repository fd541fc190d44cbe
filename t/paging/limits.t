# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# ?limit= and ?cursor= on every paged list: GET /api/users,
# /api/integration, /api/integration/type/:type, /api/audit and
# /api/auth/api-keys. A server of its own sets ITSMPageSize 3 and
# ITSMPageSizeMax 5: without ?limit= a page has 3 items, ?limit=5 is the
# most, and anything else gets 400 naming the parameter. The main server
# has the defaults, 100 and 1000.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest ();
use ItsmServer;
use ItsmLists;
use URI::Escape qw(uri_escape);

my @LISTS = ('users', 'integration', 'integration/type/custom', 'audit',
             'auth/api-keys');
my @BAD_LIMITS = ('0', '-3', '6', 'abc', '', '2.5', '1e1', ' 3',
                  '3 ', '99999999999999999999');
my @BAD_CURSORS = ('abc', '123', '123.', '123.xyz',
                   '.0123456789abcdef01234567',
                   '12a.0123456789abcdef01234567',
                   '1.0123456789ABCDEF01234567');
my @BAD_AUDIT_CURSORS = ('abc', '0', '-5', '1.5');

plan tests => @LISTS * (13 + 2 * @BAD_LIMITS) + 3 * 2 * @BAD_CURSORS
    + 2 * @BAD_AUDIT_CURSORS + @LISTS * 4;

my $server = ItsmServer->start(directives => [
    'ITSMPageSize 3',
    'ITSMPageSizeMax 5',
    'ITSMHealthCheckInterval 0',
]);
my $admin = $server->login_admin;

# Seven more users, integrations of type custom, and keys; they write
# more than seven audit rows.
for my $n (1 .. 7) {
    $server->api(POST => 'users', token => $admin,
                 json => { firstName => 'Paged', lastName => "N$n",
                           email => "paged-$n\@example.com",
                           password => "paged-password-$n" });
    $server->api(POST => 'integration', token => $admin,
                 json => { name => "Paged $n", type => 'custom',
                           config => { baseUrl => 'http://127.0.0.1:9',
                                       auth => { type => 'none' } } });
    create_key($server, $admin, name => "paged $n");
}

sub get_list {
    my ($path, $query) = @_;
    return $server->api(GET => "$path?$query", token => $admin);
}

for my $list (@LISTS) {
    my $res = get_list($list, '');
    ok t_cmp($res->{status}, 200, "$list: 200");
    ok t_cmp(join(',', sort keys %{ $res->{json} // {} }),
             'count,data,nextCursor,success,total',
             "$list: success, count, total, data, nextCursor");
    ok t_cmp($res->{json}{count}, 3, "$list: ITSMPageSize 3 items by default");
    ok t_cmp(scalar @{ $res->{json}{data} }, 3, "$list: data has 3 items");
    ok t_cmp(defined $res->{json}{nextCursor}, 1, "$list: nextCursor set");
    ok t_cmp($res->{json}{total} >= 7, 1, "$list: total counts every item");

    $res = get_list($list, 'limit=5');
    ok t_cmp($res->{status}, 200, "$list: limit 5, the maximum, is 200");
    ok t_cmp($res->{json}{count}, 5, "$list: limit 5 gives 5 items");
    $res = get_list($list, 'limit=1');
    ok t_cmp($res->{json}{count}, 1, "$list: limit 1 gives 1 item");

    for my $limit (@BAD_LIMITS) {
        my $escaped = uri_escape($limit);
        $res = get_list($list, "limit=$escaped");
        ok t_cmp($res->{status}, 400, "$list: limit '$limit' is 400");
        ok t_cmp($res->{json}{message}, qr/^limit must be .* 1 to 5\b/,
                 "$list: limit '$limit' names limit and its range");
    }

    # Every page of 2 until nextCursor is null: each item once.
    my ($items, $pages) = all_pages($server, $admin, $list, limit => 2);
    my %seen;
    $seen{ $_->{_id} }++ for @$items;
    ok t_cmp(scalar(grep { $_ > 1 } values %seen), 0,
             "$list: no item on two pages");
    ok t_cmp(scalar @$items, $pages->[0]{total},
             "$list: the pages hold total items");
    ok t_cmp(scalar(grep { $_->{count} > 2 } @$pages), 0,
             "$list: no page has more than limit items");
    ok t_cmp(scalar(grep { $_->{count} != @{ $_->{data} } } @$pages), 0,
             "$list: count is the number of items on each page");
}

for my $list (grep { $_ ne 'audit' } @LISTS) {
    next if $list eq 'integration/type/custom';
    for my $cursor (@BAD_CURSORS) {
        my $res = get_list($list, "cursor=$cursor");
        ok t_cmp($res->{status}, 400, "$list: cursor '$cursor' is 400");
        ok t_cmp($res->{json}{message}, qr/^cursor\b/,
                 "$list: cursor '$cursor' names cursor");
    }
}
for my $cursor (@BAD_AUDIT_CURSORS) {
    my $res = get_list('audit', "cursor=$cursor");
    ok t_cmp($res->{status}, 400, "audit: cursor '$cursor' is 400");
    ok t_cmp($res->{json}{message}, qr/^cursor\b/,
             "audit: cursor '$cursor' names cursor");
}

# --- the main server: ITSMPageSizeMax 1000 by default ------------------------

for my $list (@LISTS) {
    my $res = ItsmTest::api(GET => "$list?limit=1001",
                            token => ItsmTest::admin_token());
    ok t_cmp($res->{status}, 400, "main server $list: limit 1001 is 400");
    ok t_cmp($res->{json}{message}, qr/^limit must be .* 1 to 1000\b/,
             "main server $list: the message names limit and 1000");
    $res = ItsmTest::api(GET => "$list?limit=1000",
                         token => ItsmTest::admin_token());
    ok t_cmp($res->{status}, 200, "main server $list: limit 1000 is 200");
    ok t_cmp($res->{json}{count} <= 1000, 1,
             "main server $list: at most 1000 items");
}
