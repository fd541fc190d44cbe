# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Who may call which integration endpoint. Every endpoint is called by the
# admin, an integrator who neither created nor manages the integration, a
# plain user, a user who manages it, the integrator who created it, and
# without a token. Refusals are 403 "Access denied" (401 "Authentication
# required" without a token) and change nothing.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;

my %token = (
    admin      => admin_token(),
    integrator => new_user(role => 'integrator')->{token},
    user       => new_user(role => 'user')->{token},
    anonymous  => undef,
);
my $manager = new_user(role => 'user');
my $creator = new_user(role => 'integrator');
$token{manager} = $manager->{token};
$token{creator} = $creator->{token};
my @roles = qw(admin integrator user manager creator anonymous);

my $target = create_integration($creator->{token},
                                managers => [ $manager->{id} ]);
my $id = $target->{_id};

# Expected status of each endpoint per role.
my @cases = (
    [ 'list', GET => 'integration',
      { admin => 200, integrator => 200, creator => 200 } ],
    [ 'by type', GET => 'integration/type/jira',
      { admin => 200, integrator => 200, creator => 200 } ],
    [ 'get', GET => "integration/$id",
      { admin => 200, integrator => 200, manager => 200, creator => 200 } ],
    [ 'create', POST => 'integration',
      { admin => 201, integrator => 201, creator => 201 } ],
    [ 'update', PUT => "integration/$id",
      { admin => 200, manager => 200, creator => 200 } ],
    [ 'check health', POST => "integration/$id/check-health",
      { admin => 200, manager => 200, creator => 200 } ],
    [ 'reencrypt', POST => 'integration/credentials/reencrypt',
      { admin => 200 } ],
    [ 'delete', DELETE => "integration/$id", { admin => 200 } ],
);

my $count = 0;
for my $case (@cases) {
    for my $role (@roles) {
        $count += ($case->[3]{$role} || $role eq 'anonymous') ? 1 : 2;
    }
}
plan tests => $count + 6;

my $last_name = $target->{name};
for my $case (@cases) {
    my ($what, $method, $path, $allowed) = @$case;

    # The admin goes last, so that delete refusals are seen first.
    for my $role ((grep { $_ ne 'admin' } @roles), 'admin') {
        my %opt = (token => $token{$role});
        if ($what eq 'create') {
            $opt{json} = integration_body();
        }
        elsif ($what eq 'update') {
            $opt{json} = { name => unique_name("Renamed by $role") };
        }
        my $res = api($method => $path, %opt);
        $last_name = $opt{json}{name}
            if $what eq 'update' && $res->{status} == 200;

        my $expected = $allowed->{$role}
                       // ($role eq 'anonymous' ? 401 : 403);
        ok t_cmp($res->{status}, $expected, "$what by $role");
        next if $expected == 401 || $expected < 400;
        ok t_cmp($res->{json}{message}, 'Access denied',
                 "$what by $role message");
    }

    if ($what eq 'update') {
        my $res = api(GET => "integration/$id", token => $token{admin});
        ok t_cmp($res->{json}{data}{name}, $last_name,
                 'refused updates change nothing');
    }
}

my $res = api(GET => 'integration', token => $token{anonymous});
ok t_cmp($res->{json}{message}, 'Authentication required',
         'anonymous message');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'anonymous success');
ok t_cmp(api(GET => "integration/$id", token => $token{admin})->{status},
         404, 'admin delete removed it');

# A manager of one integration has no rights on another.
my $other = create_integration($creator->{token});
$res = api(GET => "integration/$other->{_id}", token => $manager->{token});
ok t_cmp($res->{status}, 403, 'manager cannot read another');
$res = api(PUT => "integration/$other->{_id}", token => $manager->{token},
           json => { name => unique_name() });
ok t_cmp($res->{status}, 403, 'manager cannot update another');
