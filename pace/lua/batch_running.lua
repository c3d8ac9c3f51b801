--! uses: batch
-- ARGV[3..]: batch id, job id, stage. A worker starts the job.
init()
transition(ARGV[3], ARGV[4], ARGV[5], 'running')
return 1
