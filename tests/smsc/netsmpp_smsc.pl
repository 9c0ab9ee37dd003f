#!/usr/bin/perl
# A second test SMSC, on Debian's Net::SMPP (a pure-Perl SMPP 3.4 implementation, independent of
# both smpplib and smpp34), for what smpp34's server cannot do: check the ESME's credentials.
# A bind with the right system_id and password is answered ESME_ROK and the session is kept up
# (enquire_link answered, unbind honoured); a wrong password gets ESME_RINVPASWD, an unknown
# system_id ESME_RINVSYSID, and the connection is closed, as carriers' SMSCs do.
#
# Run: perl tests/smsc/netsmpp_smsc.pl PORT SYSTEM_ID PASSWORD   (prints "ready" when listening)
use strict;
use warnings;
use Net::SMPP;

my ($port, $system_id, $password) = @ARGV;
my $listener = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34,
                                      enquire_interval => 0)
    or die "cannot listen on $port: $!";
$| = 1;
print "ready\n";

use constant { ESME_ROK => 0x00, ESME_RINVPASWD => 0x0E, ESME_RINVSYSID => 0x0F };

while (my $conn = $listener->accept) {
    my $bind = $conn->read_pdu();
    next unless $bind;
    if ($bind->{cmd} != Net::SMPP::CMD_bind_transceiver) {
        $conn->generic_nack(seq => $bind->{seq}, status => 0x04);  # ESME_RINVBNDSTS
        close $conn;
        next;
    }
    my $status = $bind->{system_id} ne $system_id ? ESME_RINVSYSID
               : $bind->{password} ne $password ? ESME_RINVPASWD : ESME_ROK;
    print "bind $bind->{system_id} status $status\n";
    $conn->bind_transceiver_resp(seq => $bind->{seq}, status => $status, system_id => 'NETSMPP');
    if ($status != ESME_ROK) {
        close $conn;
        next;
    }
    while (my $pdu = $conn->read_pdu()) {
        if ($pdu->{cmd} == Net::SMPP::CMD_enquire_link) {
            $conn->enquire_link_resp(seq => $pdu->{seq});
        } elsif ($pdu->{cmd} == Net::SMPP::CMD_unbind) {
            $conn->unbind_resp(seq => $pdu->{seq});
            last;
        }
    }
    close $conn;
}
