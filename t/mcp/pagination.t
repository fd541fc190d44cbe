# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# tools/list pages: the itsm_mcp_paged virtual host sets
# ITSMMCPToolsPageSize 3, so the ten tools come in pages of 3, 3, 3 and 1,
# each but the last with a nextCursor; the main host's default of 50 fits
# them all on one page. Read-scoped keys page through their six tools.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration qw(on_vhost);
use ItsmMcp;

plan tests => 20;

my $admin = admin_token();

sub paged {
    my ($token, $params) = @_;
    return on_vhost('itsm_mcp_paged',
                    sub { rpc($token, 'tools/list', $params) });
}

# Follows nextCursor from the first page; returns the page sizes and the
# tool names in order.
sub all_pages {
    my ($token) = @_;
    my (@sizes, @names);
    my $params = {};
    for (1 .. 10) {
        my $result = paged($token, $params)->{json}{result} // {};
        push @sizes, scalar @{ $result->{tools} || [] };
        push @names, map { $_->{name} } @{ $result->{tools} || [] };
        last unless defined $result->{nextCursor};
        $params = { cursor => $result->{nextCursor} };
    }
    return (\@sizes, \@names);
}

my $main = rpc($admin, 'tools/list', {})->{json}{result};
my @all = map { $_->{name} } @{ $main->{tools} };
ok t_cmp(scalar @all, 10, 'main host lists ten tools');
ok t_cmp(exists $main->{nextCursor} ? 1 : 0, 0,
         'main host has one page');

my $first = paged($admin, {})->{json}{result};
ok t_cmp(scalar @{ $first->{tools} }, 3, 'first page has three');
ok t_cmp(defined $first->{nextCursor} ? 1 : 0, 1, 'first page cursor set');

my ($sizes, $names) = all_pages($admin);
ok t_cmp(join(',', @$sizes), '3,3,3,1', 'page sizes');
ok t_cmp(join(',', @$names), join(',', @all), 'pages hold every tool');
my %seen;
ok t_cmp(scalar(grep { $seen{$_}++ } @$names), 0, 'no tool twice');

# The last page has no nextCursor member at all.
my $cursor = $first->{nextCursor};
my $page;
for (1 .. 3) {
    $page = paged($admin, { cursor => $cursor })->{json}{result};
    last unless defined $page->{nextCursor};
    $cursor = $page->{nextCursor};
}
ok t_cmp(scalar @{ $page->{tools} }, 1, 'last page has one');
ok t_cmp(exists $page->{nextCursor} ? 1 : 0, 0, 'last page has no cursor');

# A cursor is the client's to pass back unchanged; anything else is
# invalid params.
for my $bad ('not-a-cursor', '-1', '', 3) {
    my $res = paged($admin, { cursor => $bad });
    ok t_cmp($res->{status}, 200, "cursor '$bad' status");
    ok t_cmp(ref $res->{json}{error} eq 'HASH' ? $res->{json}{error}{code}
             : undef, -32602, "cursor '$bad' is invalid params");
}

# A read-scoped key pages through the five read-only tools.
my $user = new_user(role => 'user');
my $read_key = api_key($user->{id}, 'read');
($sizes, $names) = all_pages($read_key);
ok t_cmp(join(',', @$sizes), '3,2', 'read key page sizes');
my %annotations = map { $_->{name} => $_->{annotations} } @{ $main->{tools} };
ok t_cmp(scalar(grep { !$annotations{$_}{readOnlyHint} } @$names), 0,
         'read key pages are read-only');
ok t_cmp(scalar @$names, 5, 'read key sees five');
