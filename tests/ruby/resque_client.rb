# Ruby's side of the Resque contract, for the tests: what Resque's client writes and reads,
# with redis-rb and the json stdlib only (no Resque gem: Debian has none), in Resque's
# default namespace `resque:`.
#
#   ruby resque_client.rb URL enqueue   # stdin: one JSON [queue, class, args] a line
#   ruby resque_client.rb URL failed    # stdout: each record of resque:failed, a JSON line
#
# URL is redis://host:port, unix:///path/to/socket, or pace's redis+cluster://host:port
# (a node of a Redis Cluster: redis-rb finds the others).
require "json"
require "redis"

def connect(url)
  cluster = url.match(%r{\A(rediss?)\+cluster://(.*)\z})
  return Redis.new(url: url) unless cluster

  Redis.new(cluster: ["#{cluster[1]}://#{cluster[2]}"])
end

# Resque.push: `SADD resque:queues NAME`, then `RPUSH resque:queue:NAME` of the job as
# Resque.encode writes it (JSON.generate: compact, UTF-8 as is, keys in insertion order).
# Resque pipelines the two; on a cluster redis-rb 4 pipelines only commands of one node, so
# the SADD goes alone and each queue's RPUSHes (one key, one slot) go in one pipeline.
def enqueue(redis, lines)
  jobs = lines.map { |line| JSON.parse(line) }
  jobs.group_by(&:first).each do |queue, group|
    redis.sadd?("resque:queues", queue)
    redis.pipelined do |pipe|
      group.each do |_, klass, args|
        pipe.rpush("resque:queue:#{queue}", JSON.generate({ "class" => klass, "args" => args }))
      end
    end
  end
end

# Resque::Failure::Redis.all(0, count): LRANGE resque:failed, each record decoded. Printed
# with Ruby's JSON.generate, so a record's keys come out in the order Ruby's hash keeps.
def failed(redis)
  redis.lrange("resque:failed", 0, -1).each { |raw| puts JSON.generate(JSON.parse(raw)) }
end

url, command = ARGV
redis = connect(url)
case command
when "enqueue" then enqueue(redis, $stdin.each_line)
when "failed" then failed(redis)
else abort "usage: ruby resque_client.rb URL enqueue|failed"
end
redis.close
