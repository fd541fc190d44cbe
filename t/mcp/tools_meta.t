# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# What tools/list tells an agent about each tool: a name that MCP clients
# accept, title, description, an inputSchema and an outputSchema with root
# type object, and annotations with all four hints. Only the four ticket
# write tools are not read-only, and only the registry tools stay within
# the hub (openWorldHint false).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmMcp;

my %expected = (
    # name => [readOnly, destructive, idempotent, openWorld]
    list_integrations        => [1, 0, 1, 0],
    get_integration          => [1, 0, 1, 0],
    check_integration_health => [0, 0, 1, 1],
    create_ticket            => [0, 0, 0, 1],
    get_ticket               => [1, 0, 1, 1],
    update_ticket            => [0, 0, 0, 1],
    list_tickets             => [1, 0, 1, 1],
    assign_ticket            => [0, 0, 1, 1],
    add_comment              => [0, 0, 0, 1],
    search_knowledge_base    => [1, 0, 1, 1],
);
my @HINTS = qw(readOnlyHint destructiveHint idempotentHint openWorldHint);
my @TARGETED = grep { $_ ne 'list_integrations' } sort keys %expected;

plan tests => 1 + keys(%expected) * (9 + @HINTS) + @TARGETED;

my $res = rpc(admin_token(), 'tools/list', {});
my %tool = map { $_->{name} => $_ } @{ $res->{json}{result}{tools} || [] };
ok t_cmp(join(',', sort keys %tool), join(',', sort keys %expected),
         'tool names');

for my $name (sort keys %expected) {
    my $t = $tool{$name} // {};
    my $a = $t->{annotations} // {};

    ok t_cmp($name, qr/^[A-Za-z0-9_.-]{1,64}$/, "$name name is valid");
    ok t_cmp(length($t->{description} // ''), qr/^[1-9]\d+$/,
             "$name has description");
    ok t_cmp(length($t->{title} // ''), qr/^[1-9]/, "$name has title");
    ok t_cmp(($t->{inputSchema} // {})->{type}, 'object',
             "$name input schema is object");
    ok t_cmp(ref(($t->{inputSchema} // {})->{properties}), 'HASH',
             "$name input properties");
    my $closed = ($t->{inputSchema} // {})->{additionalProperties};
    ok t_cmp(JSON::PP::is_bool($closed) && !$closed ? 1 : 0, 1,
             "$name input is closed");
    ok t_cmp(($t->{outputSchema} // {})->{type}, 'object',
             "$name output schema is object");
    ok t_cmp(ref(($t->{outputSchema} // {})->{required}), 'ARRAY',
             "$name output required");
    ok t_cmp($a->{title}, $t->{title}, "$name annotation title");
    for my $i (0 .. $#HINTS) {
        my $hint = $a->{ $HINTS[$i] };
        ok t_cmp(JSON::PP::is_bool($hint) ? ($hint ? 1 : 0) : 'missing',
                 $expected{$name}[$i], "$name $HINTS[$i]");
    }
}

# Every tool but list_integrations names its integration by id or name,
# or by system type.
for my $name (@TARGETED) {
    my $props = ($tool{$name}{inputSchema} // {})->{properties} // {};
    ok t_cmp(join(',', grep { $props->{$_} } qw(integration system)),
             'integration,system', "$name takes integration or system");
}
