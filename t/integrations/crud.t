# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The integration endpoints as the admin uses them: the shape of what
# create, read, list, list by type, update and delete return, what a PUT
# changes and keeps, deactivation, unknown ids, and managers that lose
# their account.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;

plan tests => 128;

my $admin = admin_token();
my $admin_id = api(GET => 'users/profile/me', token => $admin)
    ->{json}{data}{_id};
my $manager1 = new_user(role => 'user');
my $manager2 = new_user(role => 'integrator');
my $iso_time = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
my $api_token = 'crud-zendesk-token-' . unpack('H*', pack('N', rand 2**32));
my $base = default_mock()->url;

# Create: the spec's example body, with managers.
my $endpoints = [
    { name => 'getTickets', path => '/api/v2/tickets', method => 'GET' },
    { name => 'createTicket', path => '/api/v2/tickets', method => 'POST' },
];
my $name = unique_name('Zendesk Integration');
my $res = api(POST => 'integration', token => $admin, json => {
    name        => $name,
    description => 'Integration with Zendesk for support tickets',
    type        => 'zendesk',
    config      => {
        baseUrl => $base,
        auth    => { type => 'token',
                     credentials => { email => 'agent@example.com',
                                      apiToken => $api_token } },
    },
    endpoints   => $endpoints,
    managers    => [ $manager1->{id}, $manager2->{id} ],
});
ok t_cmp($res->{status}, 201, 'create is 201');
ok t_cmp($res->{type}, qr{^application/json\b}, 'create is JSON');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'create success');
ok t_cmp($res->{json}{message}, 'Integration created successfully',
         'create message');
my $created = $res->{json}{data} // {};
my $id = $created->{_id} // '';
ok t_cmp($id, qr/^\S+$/, 'create returns an _id');
ok t_cmp(join(',', sort keys %$created),
         '_id,config,createdAt,createdBy,description,endpoints,health,'
         . 'isActive,managers,name,type,updatedAt',
         'create data has the spec fields');
ok t_cmp($created->{name}, $name, 'create name');
ok t_cmp($created->{description},
         'Integration with Zendesk for support tickets',
         'create description');
ok t_cmp($created->{type}, 'zendesk', 'create type');
ok t_cmp($created->{config}{baseUrl}, $base, 'create baseUrl');
ok t_cmp($created->{config}{auth}{type}, 'token', 'create auth type');
ok t_cmp($created->{config}{auth}{hasCredentials}, JSON::PP::true,
         'create hasCredentials');
ok t_cmp(exists $created->{config}{auth}{credentials}, '',
         'create hides credentials');
ok t_cmp(json_encode($created->{endpoints}), json_encode($endpoints),
         'create endpoints');
ok t_cmp($created->{isActive}, JSON::PP::true, 'create isActive');
ok t_cmp($created->{health}{status}, 'unknown', 'create health status');
ok t_cmp($created->{health}{message},
         'Integration created, health check pending',
         'create health message');
ok t_cmp($created->{health}{lastChecked}, $iso_time,
         'create health lastChecked');
ok t_cmp($created->{createdBy}, $admin_id, 'create createdBy');
ok t_cmp(join(',', @{ $created->{managers} // [] }),
         "$manager1->{id},$manager2->{id}", 'create managers');
ok t_cmp($created->{createdAt}, $iso_time, 'create createdAt');
ok t_cmp($created->{updatedAt}, $iso_time, 'create updatedAt');
ok t_cmp(has_text($res->{body}, $api_token), 0, 'create hides the token');

# Defaults: no description, endpoints, managers or isActive.
$res = api(POST => 'integration', token => $admin, json => {
    name => unique_name('Minimal'), type => 'custom',
    config => { baseUrl => "$base/minimal",
                auth => { type => 'none' } },
});
ok t_cmp($res->{status}, 201, 'minimal create is 201');
my $minimal = $res->{json}{data} // {};
ok t_cmp($minimal->{description}, '', 'minimal description is empty');
ok t_cmp(json_encode($minimal->{endpoints}), '[]',
         'minimal endpoints are empty');
ok t_cmp(json_encode($minimal->{managers}), '[]',
         'minimal managers are empty');
ok t_cmp($minimal->{isActive}, JSON::PP::true, 'minimal is active');
ok t_cmp($minimal->{config}{auth}{hasCredentials}, JSON::PP::false,
         'minimal has no credentials');

# Created inactive.
$res = api(POST => 'integration', token => $admin,
           json => integration_body(isActive => JSON::PP::false));
ok t_cmp($res->{status}, 201, 'inactive create is 201');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::false,
         'inactive create isActive');
ok t_cmp($res->{json}{data}{health}{status}, 'inactive',
         'inactive create health status');
ok t_cmp($res->{json}{data}{health}{message},
         'Integration is currently inactive',
         'inactive create health message');

# Read one.
$res = api(GET => "integration/$id", token => $admin);
ok t_cmp($res->{status}, 200, 'get is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'get success');
ok t_cmp(join(',', sort keys %{ $res->{json} }), 'data,success',
         'get envelope members');
ok t_cmp(json_encode($res->{json}{data}), json_encode($created),
         'get returns what create returned');

# List.
$res = api(GET => 'integration?limit=1000', token => $admin);
ok t_cmp($res->{status}, 200, 'list is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'list success');
my $list = $res->{json}{data} // [];
ok t_cmp($res->{json}{count}, scalar @$list, 'list count matches data');
my ($listed) = grep { $_->{_id} eq $id } @$list;
ok t_cmp(json_encode($listed), json_encode($created),
         'list entry equals the created one');
ok t_cmp(scalar(grep { $_->{_id} eq $minimal->{_id} } @$list), 1,
         'list has the minimal one');

# List by type.
$res = api(GET => 'integration/type/zendesk?limit=1000', token => $admin);
ok t_cmp($res->{status}, 200, 'by type is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'by type success');
my $by_type = $res->{json}{data} // [];
ok t_cmp($res->{json}{count}, scalar @$by_type, 'by type count');
ok t_cmp(scalar(grep { $_->{_id} eq $id } @$by_type), 1,
         'by type has the zendesk one');
ok t_cmp(scalar(grep { $_->{type} ne 'zendesk' } @$by_type), 0,
         'by type has only zendesk');
$res = api(GET => 'integration/type/jira?limit=1000', token => $admin);
ok t_cmp(scalar(grep { $_->{_id} eq $id } @{ $res->{json}{data} // [] }),
         0, 'jira list lacks the zendesk one');
$res = api(GET => 'integration/type/custom?limit=1000', token => $admin);
ok t_cmp(scalar(grep { $_->{_id} eq $minimal->{_id} }
                @{ $res->{json}{data} // [] }), 1,
         'custom list has the custom one');
$res = api(GET => 'integration/type/ldap', token => $admin);
ok t_cmp($res->{status}, 400, 'unknown type is 400');
ok t_cmp($res->{json}{message}, qr/^type must be one of /,
         'unknown type message');

# PUT changes only the members it carries.
sub get_data {
    my ($integration_id) = @_;
    return api(GET => "integration/$integration_id", token => $admin)
        ->{json}{data} // {};
}

my $before = get_data($id);
my $new_name = unique_name('Renamed');
sleep 1;    # so that updatedAt can differ from createdAt
$res = api(PUT => "integration/$id", token => $admin,
           json => { name => $new_name });
ok t_cmp($res->{status}, 200, 'rename is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'rename success');
ok t_cmp($res->{json}{message}, 'Integration updated successfully',
         'rename message');
my $after = $res->{json}{data} // {};
ok t_cmp($after->{name}, $new_name, 'rename sets name');
for my $kept (qw(description type endpoints managers isActive health
                 createdBy createdAt config)) {
    ok t_cmp(json_encode($after->{$kept}), json_encode($before->{$kept}),
             "rename keeps $kept");
}
ok t_cmp($after->{updatedAt} ne $before->{updatedAt}, 1,
         'rename changes updatedAt');
ok t_cmp(json_encode(get_data($id)), json_encode($after),
         'rename is stored');

$res = api(PUT => "integration/$id", token => $admin,
           json => { description => 'New description' });
ok t_cmp($res->{json}{data}{description}, 'New description',
         'description update');
ok t_cmp($res->{json}{data}{name}, $new_name, 'description keeps name');

# Stored credentials never follow a new base URL: whoever may edit the
# integration could point it at a server of their own and receive them.
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { baseUrl => "$base/zendesk" } });
ok t_cmp($res->{status}, 400, 'baseUrl without credentials is 400');
ok t_cmp($res->{json}{message}, qr/^config\.auth\.credentials must be sent/,
         'baseUrl without credentials message');
ok t_cmp(get_data($id)->{config}{baseUrl}, $base,
         'refused baseUrl is not stored');
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { baseUrl => "$base/zendesk", auth => {
               type => 'token', credentials => {
                   email => 'agent@example.com', apiToken => $api_token } } } });
ok t_cmp($res->{status}, 200, 'baseUrl update is 200');
ok t_cmp($res->{json}{data}{config}{baseUrl}, "$base/zendesk",
         'baseUrl update');
ok t_cmp($res->{json}{data}{config}{auth}{type}, 'token',
         'baseUrl update keeps auth type');
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::true,
         'baseUrl update with credentials');

my $new_endpoints = [ { name => 'me', path => '/api/v2/users/me.json',
                        method => 'GET' } ];
$res = api(PUT => "integration/$id", token => $admin,
           json => { endpoints => $new_endpoints });
ok t_cmp(json_encode($res->{json}{data}{endpoints}),
         json_encode($new_endpoints), 'endpoints are replaced');

$res = api(PUT => "integration/$id", token => $admin,
           json => { managers => [ $manager2->{id} ] });
ok t_cmp(join(',', @{ $res->{json}{data}{managers} // [] }),
         $manager2->{id}, 'managers are replaced');
ok t_cmp(join(',', @{ get_data($id)->{managers} // [] }), $manager2->{id},
         'managers change is stored');

# config.auth without credentials keeps the stored ones.
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { auth => { type => 'token' } } });
ok t_cmp($res->{status}, 200, 'auth without credentials is 200');
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::true,
         'auth without credentials keeps them');

# Removing the credentials needs an auth type that works without them.
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { auth => { type => 'token',
                                           credentials => undef } } });
ok t_cmp($res->{status}, 400, 'null credentials for token is 400');
ok t_cmp($res->{json}{message},
         qr/^config\.auth\.credentials\.apiToken /,
         'null credentials for token message');
ok t_cmp(get_data($id)->{config}{auth}{hasCredentials}, JSON::PP::true,
         'rejected removal keeps credentials');
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { auth => { type => 'none',
                                           credentials => undef } } });
ok t_cmp($res->{status}, 200, 'null credentials for none is 200');
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::false,
         'null credentials remove them');
ok t_cmp($res->{json}{data}{config}{auth}{type}, 'none',
         'auth type becomes none');
ok t_cmp(get_data($id)->{config}{auth}{hasCredentials}, JSON::PP::false,
         'removal is stored');

# New credentials replace nothing-stored.
$res = api(PUT => "integration/$id", token => $admin,
           json => { config => { auth => { type => 'token', credentials => {
               email => 'agent@example.com', apiToken => $api_token } } } });
ok t_cmp($res->{status}, 200, 'new credentials are 200');
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::true,
         'new credentials are stored');
ok t_cmp(has_text($res->{body}, $api_token), 0, 'update hides the token');

# A rename that only changes case keeps the row's own name.
my $upper = uc $new_name;
$res = api(PUT => "integration/$id", token => $admin,
           json => { name => $upper });
ok t_cmp($res->{status}, 200, 'case-only rename is 200');
ok t_cmp($res->{json}{data}{name}, $upper, 'case-only rename');

# Deactivation and reactivation.
$res = api(PUT => "integration/$id", token => $admin,
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivate is 200');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::false,
         'deactivate isActive');
ok t_cmp($res->{json}{data}{health}{status}, 'inactive',
         'deactivate health status');
ok t_cmp($res->{json}{data}{health}{message},
         'Integration is currently inactive', 'deactivate health message');
ok t_cmp(get_data($id)->{health}{status}, 'inactive',
         'deactivation is stored');

$res = api(POST => "integration/$id/check-health", token => $admin);
ok t_cmp($res->{status}, 200, 'inactive check is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'inactive check success');
ok t_cmp($res->{json}{message}, 'Health check performed',
         'inactive check message');
ok t_cmp($res->{json}{data}{status}, 'inactive', 'inactive check status');
ok t_cmp($res->{json}{data}{message}, 'Integration is currently inactive',
         'inactive check health message');
ok t_cmp($res->{json}{data}{lastChecked}, $iso_time,
         'inactive check lastChecked');

$res = api(PUT => "integration/$id", token => $admin,
           json => { isActive => JSON::PP::true });
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::true, 'reactivate');
ok t_cmp($res->{json}{data}{health}{status}, 'unknown',
         'reactivate health status');
ok t_cmp($res->{json}{data}{health}{message},
         'Integration activated, health check pending',
         'reactivate health message');

# Unknown and malformed ids.
for my $bad ('0123456789abcdef0123456789abcdef', 'no-such-id') {
    $res = api(GET => "integration/$bad", token => $admin);
    ok t_cmp($res->{status}, 404, "get $bad is 404");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "get $bad success");
    $res = api(PUT => "integration/$bad", token => $admin,
               json => { name => unique_name() });
    ok t_cmp($res->{status}, 404, "put $bad is 404");
    $res = api(DELETE => "integration/$bad", token => $admin);
    ok t_cmp($res->{status}, 404, "delete $bad is 404");
    $res = api(POST => "integration/$bad/check-health", token => $admin);
    ok t_cmp($res->{status}, 404, "check $bad is 404");
}

# Deleting a user removes them from every managers list.
my $leaving = new_user(role => 'user');
my $first = create_integration($admin,
    managers => [ $leaving->{id}, $manager1->{id} ]);
my $second = create_integration($admin, managers => [ $leaving->{id} ]);
$res = api(DELETE => "users/$leaving->{id}", token => $admin);
ok t_cmp($res->{status}, 200, 'user delete is 200');
ok t_cmp(join(',', @{ get_data($first->{_id})->{managers} // [] }),
         $manager1->{id}, 'deleted user leaves the first list');
ok t_cmp(json_encode(get_data($second->{_id})->{managers}), '[]',
         'deleted user leaves the second list');
$res = api(GET => 'integration?limit=1000', token => $admin);
my ($first_listed) = grep { $_->{_id} eq $first->{_id} }
                     @{ $res->{json}{data} // [] };
ok t_cmp(join(',', @{ $first_listed->{managers} // [] }), $manager1->{id},
         'list shows the shorter managers');

# Delete.
$res = api(DELETE => "integration/$id", token => $admin);
ok t_cmp($res->{status}, 200, 'delete is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'delete success');
ok t_cmp($res->{json}{message}, 'Integration deleted successfully',
         'delete message');
ok t_cmp(join(',', sort keys %{ $res->{json} }), 'message,success',
         'delete envelope members');
ok t_cmp(api(GET => "integration/$id", token => $admin)->{status}, 404,
         'deleted one is 404');
$res = api(GET => 'integration?limit=1000', token => $admin);
ok t_cmp(scalar(grep { $_->{_id} eq $id } @{ $res->{json}{data} // [] }),
         0, 'deleted one is not listed');
ok t_cmp(api(DELETE => "integration/$id", token => $admin)->{status}, 404,
         'second delete is 404');

# The name of a deleted integration is free again.
$res = api(POST => 'integration', token => $admin,
           json => integration_body(name => $upper));
ok t_cmp($res->{status}, 201, 'deleted name can be reused');
