-- What the adoption must keep (molecule/adopt): the seed's sensors with their ids, and the
-- hand-built readings' count and checksum.
select json_build_object(
  'sensors', (select json_agg(json_build_object('id', s.id, 'name', s.name) order by s.id) from sensor s where s.id between 41 and 87),
  'readings', (select count(*) from timed_belief tb join data_source ds on ds.id = tb.source_id where ds.name = 'hand-built simulator'),
  'checksum', (select md5(string_agg(tb.sensor_id || '|' || tb.event_start || '|' || tb.belief_horizon || '|' || tb.event_value, ','
                                     order by tb.sensor_id, tb.event_start))
               from timed_belief tb join data_source ds on ds.id = tb.source_id where ds.name = 'hand-built simulator'));
