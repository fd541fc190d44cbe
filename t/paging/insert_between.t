# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Keyset paging reaches every item exactly once while items are added
# between pages: on a server of its own, each list is paged with limit 3
# while new users, integrations, keys and audit rows appear and, once, the
# item that the cursor names is deleted. Every item that existed at the
# start is seen once, and no item is seen twice. Items created in the same
# millisecond are ordered by id, so a page boundary between them loses
# none.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmLists;

plan tests => 30;

my $server = ItsmServer->start(directives => [ 'ITSMHealthCheckInterval 0' ]);
my $admin = $server->login_admin;
my $serial = 0;

sub add_user {
    $serial++;
    my $res = $server->api(POST => 'users', token => $admin,
                           json => { firstName => 'Between',
                                     lastName => "N$serial",
                                     email => "between-$serial\@example.com",
                                     password => "between-password-$serial" });
    return $res->{json}{data}{_id};
}

sub add_integration {
    $serial++;
    my $res = $server->api(POST => 'integration', token => $admin,
                           json => { name => "Between $serial",
                                     type => 'custom',
                                     config => {
                                         baseUrl => 'http://127.0.0.1:9',
                                         auth => { type => 'none' } } });
    return $res->{json}{data}{_id};
}

sub add_key {
    $serial++;
    return create_key($server, $admin, name => "between $serial")
        ->{json}{data}{_id};
}

sub add_everything { add_user(); add_integration(); add_key(); }

# Pages through $path with limit 3 while $between runs between pages, and
# checks the result against the ids present at the start.
sub check_paging {
    my ($label, $path, $delete, %opt) = @_;
    my ($start) = all_pages($server, $admin, $path, limit => 1000);
    my %at_start = map { $_->{_id} => 1 } @$start;
    my ($deleted, $pages_between) = (undef, 0);
    my ($items) = all_pages($server, $admin, $path, limit => 3,
                            between => sub {
        my ($page) = @_;
        $pages_between++;
        add_everything();
        add_everything() if $pages_between % 2;
        # Once, delete the item that the cursor names.
        if ($delete && $pages_between == 2) {
            $deleted = $page->{data}[-1]{_id};
            $delete->($deleted);
        }
    });
    my %seen;
    $seen{ $_->{_id} }++ for @$items;
    ok t_cmp($pages_between >= 3, 1, "$label: items were added between pages");
    ok t_cmp(scalar(grep { $seen{$_} > 1 } keys %seen), 0,
             "$label: no item seen twice");
    ok t_cmp(scalar(grep { !$seen{$_} } keys %at_start), 0,
             "$label: every item of the start seen");
    ok t_cmp(scalar(grep { !$at_start{$_} } keys %seen) > 0,
             $opt{newest_first} ? '' : 1,
             $opt{newest_first} ? "$label: new rows stay before the first page"
                                : "$label: items added at the end are seen");
    if ($delete) {
        my ($res) = $server->api(GET => "$path?limit=1000", token => $admin);
        ok t_cmp(scalar(grep { $_->{_id} eq $deleted }
                        @{ $res->{json}{data} }), 0,
                 "$label: the cursor item was deleted");
    }
}

# Start with ten of each.
add_everything() for 1 .. 10;

check_paging('users', 'users', sub {
    $server->api(DELETE => "users/$_[0]", token => $admin);
});
check_paging('integrations', 'integration', sub {
    $server->api(DELETE => "integration/$_[0]", token => $admin);
});
check_paging('integrations of a type', 'integration/type/custom', sub {
    $server->api(DELETE => "integration/$_[0]", token => $admin);
});
check_paging('keys', 'auth/api-keys');
check_paging('audit log', 'audit', undef, newest_first => 1);

# The audit log with a filter, while matching rows are added.
check_paging('filtered audit log', 'audit?action=user.create', undef,
             newest_first => 1);

# --- items of the same millisecond -----------------------------------------

my @tied = map { add_user() } 1 .. 7;
my $in = join ',', map { "'$_'" } @tied;
$server->sql("UPDATE users SET created_at = 1893456000000 WHERE id IN ($in)");
my ($items, $pages) = all_pages($server, $admin, 'users', limit => 2);
my @order = grep { my $id = $_; grep { $_ eq $id } @tied }
    map { $_->{_id} } @$items;
ok t_cmp(join(',', @order), join(',', sort @tied),
         'items of the same millisecond come in id order, each once');
ok t_cmp(scalar(@$items), $pages->[0]{total}, 'pages across the tie hold '
         . 'every user');
my ($tie_page) = grep { my $c = $_->{nextCursor} // '';
                        $c =~ /^1893456000000\./ } @$pages;
ok t_cmp(defined $tie_page, 1, 'a cursor fell inside the tie');
