-- Conecta Telecom: customers who signed up in the last 7 days and agreed to be called.
SELECT phone, split_part(full_name, ' ', 1) AS first_name, created_at
  FROM partner_customers
 WHERE partner = 'Conecta Telecom'
   AND opt_in
   AND created_at >= now() - interval '7 days'
 ORDER BY created_at
