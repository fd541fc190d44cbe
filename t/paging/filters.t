# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Filters of the paged lists, on a server of its own so that totals are
# exact: users by role and isActive; integrations by isActive, health and
# name (a prefix, without regard to ASCII case), and by type in the path.
# Filters hold on every page, total counts the matching items, and an
# invalid value gets 400 naming the parameter.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmLists;
use URI::Escape qw(uri_escape);

plan tests => 75;

my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 0',
    'ITSMHealthFailThreshold 1',
    'ITSMHealthPassThreshold 1',
]);
my $admin = $server->login_admin;
my $mock = ItsmMock->start(workers => 2);

sub req { $server->api(@_) }

sub ids_of {
    my ($path, %query) = @_;
    my ($items, $pages) = all_pages($server, $admin, $path, %query);
    return (join(',', sort map { $_->{_id} } @$items), $pages->[0]{total},
            $items);
}

# --- users ---------------------------------------------------------------

my (%users, %by_role, @inactive);
my ($admin_me) = req(GET => 'users/profile/me', token => $admin)->{json}{data};
push @{ $by_role{admin} }, $admin_me->{_id};
for my $spec ([ integrator => 3, 1 ], [ user => 4, 2 ], [ admin => 1, 0 ]) {
    my ($role, $count, $inactive) = @$spec;
    for my $n (1 .. $count) {
        my $active = $n > $inactive;
        my $res = req(POST => 'users', token => $admin,
                      json => { firstName => 'Filter', lastName => "$role$n",
                                email => "$role-$n\@example.com",
                                password => "filter-password-$n",
                                role => $role,
                                isActive => $active ? JSON::PP::true
                                                    : JSON::PP::false });
        my $id = $res->{json}{data}{_id};
        push @{ $by_role{$role} }, $id;
        push @inactive, $id unless $active;
    }
}
my %is_inactive = map { $_ => 1 } @inactive;
my @all_users = map { @$_ } values %by_role;

for my $role (qw(admin integrator user)) {
    my ($ids, $total) = ids_of('users', role => $role, limit => 2);
    ok t_cmp($ids, join(',', sort @{ $by_role{$role} }),
             "role=$role lists that role, on every page");
    ok t_cmp($total, scalar @{ $by_role{$role} }, "role=$role total");
}
my ($ids, $total) = ids_of('users', isActive => 'false', limit => 2);
ok t_cmp($ids, join(',', sort @inactive), 'isActive=false lists inactive');
ok t_cmp($total, scalar @inactive, 'isActive=false total');
($ids, $total) = ids_of('users', isActive => 'true', limit => 3);
ok t_cmp($ids, join(',', sort grep { !$is_inactive{$_} } @all_users),
         'isActive=true lists active users');
($ids, $total) = ids_of('users', role => 'user', isActive => 'true',
                        limit => 1);
ok t_cmp($ids, join(',', sort grep { !$is_inactive{$_} } @{ $by_role{user} }),
         'role and isActive together');
ok t_cmp($total, 2, 'role and isActive total');
($ids, $total) = ids_of('users', limit => 4, unknownParameter => 'x');
ok t_cmp($total, scalar @all_users, 'unknown parameters are ignored');

for my $case ([ role => 'superuser' ], [ role => 'Admin' ], [ role => '' ],
              [ isActive => 'yes' ], [ isActive => '1' ],
              [ isActive => 'TRUE' ]) {
    my ($name, $value) = @$case;
    my $res = req(GET => "users?$name=" . uri_escape($value),
                  token => $admin);
    ok t_cmp($res->{status}, 400, "users $name='$value' is 400");
    ok t_cmp($res->{json}{message}, qr/^\Q$name\E\b/,
             "users $name='$value' names $name");
}

# --- integrations -----------------------------------------------------------

my %integrations;       # name => id
sub add_integration {
    my ($name, $type, %extra) = @_;
    my $res = req(POST => 'integration', token => $admin, json => {
        name => $name, type => $type,
        config => { baseUrl => $mock->url, auth => { type => 'none' },
                    %{ delete $extra{config} // {} } },
        %extra });
    die "creating $name failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return $integrations{$name} = $res->{json}{data}{_id};
}

add_integration('Alpha Jira', 'jira');
add_integration('alpha servicenow', 'servicenow');
add_integration('ALPHABET custom', 'custom',
                config => { options => { healthPath => '/health' } });
add_integration('Beta custom', 'custom',
                config => { options => { healthPath => '/status/500' } });
add_integration('Beta off', 'custom', isActive => JSON::PP::false);
add_integration('50% discount', 'custom');
add_integration('50x faster', 'custom');
add_integration('a_b', 'zendesk');
add_integration('axb', 'zendesk');
add_integration("\x{dc}ber", 'custom');

# Manual checks set the health of two integrations.
my $res = req(POST => "integration/$integrations{'ALPHABET custom'}"
                      . '/check-health', token => $admin);
ok t_cmp($res->{status}, 200, 'manual check of a healthy integration');
$res = req(POST => "integration/$integrations{'Beta custom'}/check-health",
           token => $admin);
ok t_cmp($res->{status}, 200, 'manual check of an unhealthy integration');

sub names_of {
    my ($path, %query) = @_;
    my ($items, $pages) = all_pages($server, $admin, $path, limit => 2,
                                    %query);
    return (join(',', sort map { $_->{name} } @$items), $pages->[0]{total});
}

my @cases = (
    [ 'name prefix alpha', 'integration', { name => 'alpha' },
      'ALPHABET custom,Alpha Jira,alpha servicenow' ],
    [ 'name prefix in upper case', 'integration', { name => 'ALPHA J' },
      'Alpha Jira' ],
    [ 'name prefix with %', 'integration', { name => '50%' },
      '50% discount' ],
    [ 'name prefix with _', 'integration', { name => 'a_' }, 'a_b' ],
    [ 'whole name as prefix', 'integration', { name => 'axb' }, 'axb' ],
    [ 'non-ASCII prefix', 'integration', { name => "\x{dc}b" },
      "\x{dc}ber" ],
    [ 'no match', 'integration', { name => 'gamma' }, '' ],
    [ 'isActive false', 'integration', { isActive => 'false' }, 'Beta off' ],
    [ 'health healthy', 'integration', { health => 'healthy' },
      'ALPHABET custom' ],
    [ 'health unhealthy', 'integration', { health => 'unhealthy' },
      'Beta custom' ],
    [ 'health inactive', 'integration', { health => 'inactive' },
      'Beta off' ],
    [ 'health degraded', 'integration', { health => 'degraded' }, '' ],
    [ 'name and isActive', 'integration',
      { name => 'beta', isActive => 'true' }, 'Beta custom' ],
    [ 'type custom', 'integration/type/custom', {},
      "50% discount,50x faster,ALPHABET custom,Beta custom,Beta off,"
      . "\x{dc}ber" ],
    [ 'type and name', 'integration/type/custom', { name => 'beta' },
      'Beta custom,Beta off' ],
    [ 'type and health', 'integration/type/custom',
      { health => 'unknown' }, "50% discount,50x faster,\x{dc}ber" ],
    [ 'type with no match', 'integration/type/ivanti', {}, '' ],
);
for my $case (@cases) {
    my ($label, $path, $query, $expected) = @$case;
    my ($names, $count) = names_of($path, %$query);
    ok t_cmp($names, $expected, "$label: the matching integrations");
    my @expected = grep { length } split /,/, $expected;
    ok t_cmp($count, scalar @expected, "$label: total");
}
my ($names, $count) = names_of('integration', isActive => 'true');
ok t_cmp($count, keys(%integrations) - 1, 'isActive true: total');

for my $case ([ 'integration?isActive=maybe', 'isActive' ],
              [ 'integration?health=sick', 'health' ],
              [ 'integration?health=Healthy', 'health' ],
              [ 'integration?name=', 'name' ],
              [ 'integration?name=' . ('n' x 201), 'name',
                'integration?name=<201 characters>' ],
              [ 'integration/type/bogus', 'type' ],
              [ 'integration/type/custom?health=up', 'health' ]) {
    my ($path, $name, $label) = @$case;
    $label //= $path;
    $res = req(GET => $path, token => $admin);
    ok t_cmp($res->{status}, 400, "$label is 400");
    ok t_cmp($res->{json}{message}, qr/^\Q$name\E\b/, "$label names $name");
}
