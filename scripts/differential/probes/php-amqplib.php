<?php
// A probe of `npm run differential`: php-amqplib (Debian php-amqplib) through what its users do,
// one {"check", "value"} JSON line per check, compared between Warren and RabbitMQ.
require_once '/usr/share/php/PhpAmqpLib/autoload.php';
use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPTable;
$port = (int)getenv('PROBE_PORT');
$out = [];
$conn = new AMQPStreamConnection('127.0.0.1', $port, 'guest', 'guest', '/', false, 'AMQPLAIN', null, 'en_US', 3.0, 3.0, null, false, 10);
$ch = $conn->channel();
list($q,,) = $ch->queue_declare('', false, false, true, true);
$out[] = ['server-named', strpos($q, 'amq.gen-') === 0];
$msg = new AMQPMessage('hello', ['delivery_mode' => 2, 'content_type' => 'text/plain', 'priority' => 4, 'message_id' => 'id1', 'timestamp' => 1700000000, 'application_headers' => new AMQPTable(['a' => 1, 'b' => 'str', 'c' => [1, 2], 'd' => ['x' => true], 'f' => 1.5])]);
$ch->basic_publish($msg, '', $q);
usleep(100000);
$m = $ch->basic_get($q, true);
$out[] = ['get', $m->getBody(), $m->get('content_type'), $m->get('priority'), $m->get('message_id'), $m->get('timestamp'), $m->get('application_headers')->getNativeData(), $m->getMessageCount()];
$out[] = ['get-empty', $ch->basic_get($q, true)];
// confirms
$ch->confirm_select();
$acks = 0; $nacks = 0;
$ch->set_ack_handler(function () use (&$acks) { $acks++; });
$ch->set_nack_handler(function () use (&$nacks) { $nacks++; });
$ch->exchange_declare('php.x', 'topic', false, false, true);
$ch->queue_declare('php.q', false, false, false, true, false, new AMQPTable(['x-max-length' => 3, 'x-overflow' => 'reject-publish']));
$ch->queue_bind('php.q', 'php.x', '#');
for ($i = 0; $i < 5; $i++) $ch->basic_publish(new AMQPMessage("m$i"), 'php.x', 'a.b');
$ch->wait_for_pending_acks(5.0);
$out[] = ['confirms', $acks, $nacks];
list(, $count, $consumers) = $ch->queue_declare('php.q', true);
$out[] = ['count', $count, $consumers];
// consume with qos and ack
$ch2 = $conn->channel();
$ch2->basic_qos(null, 1, null);
$got = [];
$tag = $ch2->basic_consume('php.q', '', false, false, false, false, function ($m) use (&$got) { $got[] = $m->getBody(); $m->ack(); });
while (count($got) < 3) $ch2->wait(null, false, 2);
$out[] = ['consumed', $got];
$ch2->basic_cancel($tag);
// errors
// Each error check records its outcome either way, on objects of its own (php.q and php.x went
// with the consumer's cancel: both auto-delete).
$setup = $conn->channel();
$setup->queue_declare('php.eq', false, false, false, false);
$setup->exchange_declare('php.ex', 'direct', false, false, false);
$ch3 = $conn->channel();
try { $ch3->queue_declare('php.eq', false, true, false, false); $out[] = ['precondition', 'no error']; } catch (\Exception $e) { $out[] = ['precondition', get_class($e), $e->getCode(), substr($e->getMessage(), 0, 140)]; }
$ch4 = $conn->channel();
try { $ch4->exchange_declare('php.ex', 'fanout', false, false, false); $out[] = ['exchange-type', 'no error']; } catch (\Exception $e) { $out[] = ['exchange-type', get_class($e), $e->getCode(), substr($e->getMessage(), 0, 140)]; }
$setup->queue_delete('php.eq');
$setup->exchange_delete('php.ex');
$ch5 = $conn->channel();
try { $ch5->basic_consume('nope', '', false, false, false, false, function () {}); $out[] = ['consume-missing', 'no error']; } catch (\Exception $e) { $out[] = ['consume-missing', get_class($e), $e->getCode(), substr($e->getMessage(), 0, 140)]; }
$ch6 = $conn->channel();
try { $ch6->basic_ack(999); $ch6->queue_declare('', false, false, true, true); $out[] = ['bad-ack', 'no error']; } catch (\Exception $e) { $out[] = ['bad-ack', get_class($e), $e->getCode(), substr($e->getMessage(), 0, 140)]; }
// tx
$ch7 = $conn->channel();
list($tq,,) = $ch7->queue_declare('', false, false, true, true);
$ch7->tx_select();
$ch7->basic_publish(new AMQPMessage('tx1'), '', $tq);
$ch7->tx_rollback();
$ch7->basic_publish(new AMQPMessage('tx2'), '', $tq);
$ch7->tx_commit();
list(, $n,) = $ch7->queue_declare($tq, true);
$out[] = ['tx', $n, $ch7->basic_get($tq, true)->getBody()];
$ch7->queue_delete('php.q');
$conn->close();
foreach ($out as $o) { $check = array_shift($o); echo json_encode(['check' => $check, 'value' => $o]), "\n"; }
