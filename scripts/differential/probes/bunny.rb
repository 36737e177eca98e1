# A probe of `npm run differential`: Ruby's Bunny (Debian ruby-bunny) through what its users do,
# one {"check", "value"} JSON line per check, compared between Warren and RabbitMQ.
require "bunny"
require "json"
port = ENV.fetch("PROBE_PORT")
out = []
conn = Bunny.new(host: "127.0.0.1", port: port.to_i, user: "guest", pass: "guest", log_level: :warn)
conn.start
out << ["server", conn.server_properties["product"].nil? ? nil : "has product", conn.server_capabilities.keys.sort]
ch = conn.create_channel
q = ch.queue("", exclusive: true)
out << ["server-named", q.name.start_with?("amq.gen-")]
ch.default_exchange.publish("hello", routing_key: q.name, persistent: true, headers: {"a" => 1, "b" => "x", "c" => [1, "y"], "d" => {"e" => true}}, content_type: "text/plain", priority: 3, expiration: "60000", message_id: "m1", timestamp: 1700000000, type: "t", app_id: "app", correlation_id: "c1", reply_to: "r")
sleep 0.1
di, props, body = q.pop
out << ["pop", body, props.headers, props.content_type, props.priority, props.expiration, props.message_id, props.timestamp.to_i, props.type, props.app_id, props.correlation_id, props.reply_to, props.delivery_mode, di.redelivered?, di.exchange, di.routing_key == q.name]
out << ["pop-empty", q.pop[2]]
# confirms
ch.confirm_select
x = ch.topic("bunny.topic", auto_delete: true)
q2 = ch.queue("bunny.q2", auto_delete: true).bind(x, routing_key: "a.*")
10.times { |i| x.publish("m#{i}", routing_key: "a.b") }
out << ["confirms", ch.wait_for_confirms, ch.unconfirmed_set.size]
out << ["counts", q2.message_count, q2.consumer_count]
# nack/requeue then redelivered
di, _, body = q2.pop(manual_ack: true)
ch.nack(di.delivery_tag, false, true)
di, _, body = q2.pop(manual_ack: true)
out << ["requeued", body, di.redelivered?]
ch.ack(di.delivery_tag)
# consumer + cancel notification on queue delete
got = []
cancelled = false
c = q2.subscribe(manual_ack: false, block: false) { |d, p, b| got << b }
c.on_cancellation { cancelled = true }
sleep 0.3
out << ["consumed", got.size]
ch2 = conn.create_channel
ch2.queue_delete("bunny.q2")
sleep 0.3
out << ["cancel-notify", cancelled]
# errors
# Each check records its outcome either way. Bunny caches a channel's declarations, so the
# inequivalent redeclare goes out on a channel of its own.
conn.create_channel.queue("bunny.q3", durable: true)
begin
  conn.create_channel.queue("bunny.q3", durable: false)
  out << ["precondition", "no error"]
rescue => e
  out << ["precondition", e.class.name, e.message[0, 120]]
end
ch4 = conn.create_channel
begin
  ch4.queue("bunny.missing", passive: true)
  out << ["not-found", "no error"]
rescue => e
  out << ["not-found", e.class.name, e.message[0, 120]]
end
ch5 = conn.create_channel
begin
  ch5.basic_publish("x", "no-such-exchange", "k")
  sleep 0.2
  ch5.queue("", exclusive: true)
  out << ["publish-missing-exchange", "no error"]
rescue => e
  out << ["publish-missing-exchange", e.class.name, e.message[0, 120]]
end
ch6 = conn.create_channel
ch6.queue_delete("bunny.q3")
# dead-lettering with TTL
dlx = ch6.fanout("bunny.dlx", auto_delete: true)
dq = ch6.queue("bunny.dead", auto_delete: true).bind(dlx)
src = ch6.queue("bunny.src", auto_delete: false, arguments: {"x-message-ttl" => 50, "x-dead-letter-exchange" => "bunny.dlx"})
ch6.default_exchange.publish("dl", routing_key: "bunny.src")
sleep 0.4
di, p, b = dq.pop
xd = p.headers && p.headers["x-death"]
out << ["dead-lettered", b, xd && xd[0].reject { |k, _| k == "time" }, p.headers && p.headers.keys.sort]
ch6.queue_delete("bunny.src")
# exchange-to-exchange
e1 = ch6.direct("bunny.e1", auto_delete: true)
e2 = ch6.fanout("bunny.e2", auto_delete: true)
e2.bind(e1, routing_key: "k")
q4 = ch6.queue("", exclusive: true).bind(e2)
e1.publish("via-e2e", routing_key: "k")
sleep 0.1
out << ["e2e", q4.pop[2]]
# mandatory return
returned = nil
x2 = ch6.direct("bunny.ret", auto_delete: true)
x2.on_return { |ri, p, b| returned = [ri.reply_code, ri.reply_text, b] }
x2.publish("ret", routing_key: "nowhere", mandatory: true)
sleep 0.3
out << ["returned", returned]
# qos + prefetch
ch7 = conn.create_channel
ch7.prefetch(2)
q7 = ch7.queue("", exclusive: true)
5.times { |i| ch7.default_exchange.publish("p#{i}", routing_key: q7.name) }
sleep 0.1
seen = []
q7.subscribe(manual_ack: true) { |d, p, b| seen << b }
sleep 0.3
out << ["prefetch", seen.size]
conn.close
out.each { |check, *value| puts JSON.generate({ "check" => check, "value" => value }) }
